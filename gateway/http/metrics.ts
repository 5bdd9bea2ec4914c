/** Prometheus text exposition of the station's counters (format 0.0.4). */
import type { Station } from '../runtime/station.ts';

export function metricsText(station: Station): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/["\\\n]/g, '_')}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 0}`);
    }
  };
  const health = station.devices.health();
  metric('fillgate_device_online', 'gauge', '1 when the device answered its last exchange', health.map((h) => [{ device: h.device }, h.state === 'online' ? 1 : 0]));
  metric('fillgate_device_rtt_ms', 'gauge', 'Round-trip time of the last good exchange', health.filter((h) => h.rttMs !== undefined).map((h) => [{ device: h.device }, h.rttMs as number]));
  metric('fillgate_device_frames_discarded_total', 'counter', 'Frames discarded as garbage', health.map((h) => [{ device: h.device }, h.framesDiscarded]));
  const counts = station.store.counts();
  metric('fillgate_records_total', 'counter', 'Fill records committed', [[{}, counts.total]]);
  metric('fillgate_records_pending', 'gauge', 'Records not yet acknowledged by the platform', [[{}, counts.pending]]);
  const t = station.uploader?.timeliness();
  if (t) metric('fillgate_upload_oldest_unacked_seconds', 'gauge', 'Age of the oldest unacknowledged record', [[{}, t.oldestUnackedAgeMs / 1000]]);
  metric('fillgate_station_locked', 'gauge', '1 while new fills are refused', station.lockState.map((l) => [{ lock: l.lock }, 1]));
  const relay = station.mqtt?.relay?.metricsText();
  return lines.join('\n') + '\n' + (relay ?? '');
}
