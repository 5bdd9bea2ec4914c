/**
 * /metrics from a running Station against the simulator (test/e2e/rig.ts):
 * after a fill on P1 (Modbus scale) and a refusal on P2 (streaming A9 scale),
 * the scrape shows fills by outcome, refusals by reason, poll latency of the
 * Modbus devices, frame intervals of the stream scale and the record backlog.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRig, beginFill, exampleConfig, type Rig } from '../e2e/rig.ts';
import { serveMetrics, stationMetrics, metricsText, METRICS_CONTENT_TYPE } from '../../gateway/http/metrics.ts';
import { Station } from '../../gateway/runtime/station.ts';
import { silentLogs } from '../../gateway/log.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';

let rig: Rig;
let server: Server;
let url: string;

test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)),
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
    },
  });
  stationMetrics(rig.station);
  server = createServer((req, res) => (req.url === '/metrics' ? serveMetrics(rig.station, res) : res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});
test.after(async () => {
  await new Promise((r) => server?.close(r));
  await rig?.close();
});

/** The value of one sample line, e.g. value(text, 'fillgate_fills_total{post="P1",outcome="filled"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('after a fill and a refusal the scrape counts both, with poll latency and backlog', async () => {
  const code = 'E2000017A1B20001'; // YSP4.7, 2 kg allowed: a short fill
  await beginFill(rig, 'P1', code);
  await rig.until('checked', () => rig.phase('P1') === 'checked', 60_000);
  rig.sim.toCheck('P1');
  rig.sim.badge('P1', 'B1002');
  await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
  rig.sim.removeCheck();
  const filled = await rig.until('fill record', () => rig.records.find((r) => r.cylinderCode === code));
  assert.is(filled.outcome, 'filled');

  rig.sim.place('P2', 'E2000017A1B20011'); // another unit's cylinder
  await rig.until('P2 shows it', () => (rig.station.posts.get('P2')!.snapshot.ctx.last?.grossKg ?? 0) > 1);
  rig.sim.scan('P2', 'E2000017A1B20011');
  const refused = await rig.until('refusal record', () => rig.records.find((r) => r.post === 'P2'));
  assert.is(refused.outcome, 'refused');

  const res = await fetch(url);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), METRICS_CONTENT_TYPE);
  const text = await res.text();
  assert.is(value(text, 'fillgate_fills_total{post="P1",outcome="filled"}'), 1);
  assert.is(value(text, 'fillgate_fills_total{post="P2",outcome="refused"}'), 1);
  assert.is(value(text, 'fillgate_refusals_total{post="P2",reason="NOT_OWN_CYLINDER"}'), 1);
  assert.match(text, '# TYPE fillgate_trips_total counter');
  // Poll latency per Modbus device, from every exchange on its bus.
  assert.ok((value(text, 'fillgate_poll_latency_seconds_count{bus="p1-scale",device="P1.scale"}') ?? 0) > 10, 'P1 scale polls timed');
  assert.ok((value(text, 'fillgate_poll_latency_seconds_count{bus="relays",device="P1.valve"}') ?? 0) > 0, 'relay module polls timed');
  assert.ok((value(text, 'fillgate_modbus_exchanges_total{bus="p1-scale",device="P1.scale",outcome="ok"}') ?? 0) > 10);
  assert.match(text, /fillgate_poll_latency_seconds_bucket\{le="0.3",bus="p1-scale",device="P1.scale"\} \d+/);
  // Per bus (issue 14 point 3): how busy the wire is, the request rate and the queue wait.
  const util = value(text, 'fillgate_modbus_bus_utilisation{bus="p1-scale"}');
  assert.ok(util !== undefined && util > 0 && util <= 1, `p1-scale utilisation ${util}`);
  assert.ok((value(text, 'fillgate_modbus_bus_requests_per_second{bus="p1-scale"}') ?? 0) > 1);
  assert.ok((value(text, 'fillgate_modbus_bus_requests_total{bus="relays"}') ?? 0) > 0);
  assert.ok((value(text, 'fillgate_modbus_bus_busy_seconds_total{bus="p1-scale"}') ?? 0) > 0);
  assert.ok(value(text, 'fillgate_modbus_bus_queue_wait_p99_seconds{bus="relays"}') !== undefined);
  // The streaming scale by the spacing of its frames.
  assert.ok((value(text, 'fillgate_stream_frame_interval_seconds_count{device="P2.scale"}') ?? 0) > 5, 'P2 frames timed');
  // Backlog: both records committed, none uploaded (no upload configured).
  assert.is(value(text, 'fillgate_records_total'), 2);
  assert.is(value(text, 'fillgate_records_pending'), 2);
  assert.is(value(text, 'fillgate_station_locked{lock="leak"}'), 0);
  assert.is(value(text, 'fillgate_device_online{device="P1.scale"}'), 1);
  // Node process metrics come from the same per-station registry.
  assert.match(text, 'nodejs_eventloop_lag_seconds');
});

test('trips are counted by reason; two stations in one process keep separate registries', async () => {
  const other = new Station(exampleConfig(), { logs: silentLogs });
  const m = stationMetrics(other);
  assert.is.not(m.registry, stationMetrics(rig.station).registry);
  assert.is(stationMetrics(other), m, 'one registry per station');
  const attempt = { attemptId: 'x', station: 'S', unit: 'U', post: 'P1', outcome: 'tripped', trips: [{ code: 'NO_FLOW', at: '2025-01-01T00:00:00+08:00' }], refusals: [] } as FillAttempt;
  other.events.emit({ kind: 'record', post: 'P1', attempt });
  other.events.emit({ kind: 'record', post: 'P1', attempt });
  const text = await metricsText(other);
  assert.is(value(text, 'fillgate_trips_total{post="P1",reason="NO_FLOW"}'), 2);
  assert.is(value(text, 'fillgate_fills_total{post="P1",outcome="tripped"}'), 2);
  // The running station's registry did not see the other's trips.
  assert.is(value(await metricsText(rig.station), 'fillgate_trips_total{post="P1",reason="NO_FLOW"}'), undefined);
  m.stop();
});

test("the gateway's own HTTP server serves the same scrape at GET /metrics", async () => {
  const { startStatusServer } = await import('../../gateway/http/server.ts');
  const http = await startStatusServer(rig.station, { host: '127.0.0.1', port: 0 });
  try {
    const res = await fetch(`${http.url}/metrics`);
    assert.is(res.status, 200);
    assert.is(res.headers.get('content-type'), METRICS_CONTENT_TYPE);
    const text = await res.text();
    assert.ok((value(text, 'fillgate_fills_total{post="P1",outcome="filled"}') ?? 0) >= 1, text.slice(0, 400));
  } finally {
    await http.close();
  }
});

test.run();
