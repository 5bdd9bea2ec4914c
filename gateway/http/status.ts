/** One snapshot of the station for people and machines: posts, devices, locks, records, uploads, MQTT. Texts from the catalogue (gateway/i18n). */
import type { Station } from '../runtime/station.ts';
import { reasonText } from '../i18n/index.ts';
import { stationIso } from '../station-time.ts';
import type { LeakState } from '../leak/interlock.ts';

function leakStatus(s: LeakState) {
  return { locked: s.latched, level: s.latchedLevel, detectors: s.detectors, cutoffs: Object.fromEntries(Object.entries(s.cutoffs).map(([id, c]) => [id, { phase: c.phase, sends: c.sends, noAck: c.noAckAlarm }])) };
}

export function stationStatus(station: Station) {
  const posts = [...station.posts.values()].map((rt) => {
    const s = rt.snapshot;
    const ph = s.phase as { kind: string; reason?: string; attempt?: { code: string }; run?: { code: string; targetKg: number } };
    return {
      id: rt.id,
      phase: ph.kind,
      cylinderCode: ph.attempt?.code ?? ph.run?.code,
      targetKg: ph.run?.targetKg,
      grossKg: s.ctx.last?.grossKg,
      stable: s.ctx.last?.stable,
      reason: ph.reason,
      reasonText: ph.reason ? reasonText(ph.reason) : undefined,
      locks: s.ctx.locks,
    };
  });
  const counts = station.store.counts();
  return {
    station: station.config.station.code,
    at: stationIso(station.config, station.clock.wall()),
    locks: station.lockState,
    // Locks only a supervisor's recorded reset lifts (kept across restarts), and their recent history.
    latches: { active: station.latches.active(), history: station.latches.history(20) },
    posts,
    devices: station.devices.health(),
    // The posts' timing runs on this loop: lag over the last window, in ms (issue 9 point 5).
    eventLoop: station.loopLag.snapshot(),
    registryImport: station.imports.running,
    records: { ...counts, store: station.store.storeHealth() },
    upload: station.uploader ? { ...station.uploader.stats, timeliness: station.uploader.timeliness() } : undefined,
    // The signed station event chain (issue 10 point 6) and its upload; remote commands handled (point 9).
    events: station.eventLog ? { ...station.eventLog.counts(), upload: station.eventUploader ? { ...station.eventUploader.stats, lastError: station.eventUploader.lastError } : undefined } : undefined,
    remote: station.remote ? station.remote.handler.stats : undefined,
    mqtt: station.mqtt ? { broker: station.mqtt.broker.counters, connected: station.mqtt.broker.connectedDevices(), relay: station.mqtt.relay?.status(), leakLocked: station.mqtt.leak.locked } : undefined,
    // The leak interlock, MQTT and Modbus detectors alike: each detector's level, %LEL, fault, silence; each cut-off valve's phase.
    leak: station.leak ? leakStatus(station.leak.interlock.state) : undefined,
  };
}
