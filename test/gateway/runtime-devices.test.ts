/**
 * gateway/runtime/devices.ts start() (issue 12 point 7): valves start in parallel
 * and the scales and readers do not wait for an unreachable relay module's close
 * confirmation (2 s per valve before: 12 s with 6 posts). The health people read
 * has wall-clock times and no stale error on an online device.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:net';
import { ManualClock, systemClock } from '../../protocols/clock.ts';
import { buildDevices, healthView, valveProblem } from '../../gateway/runtime/devices.ts';
import { validateConfig } from '../../gateway/config/config.ts';
import { stationIso } from '../../gateway/station-time.ts';

function listen(onConnection: () => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      onConnection();
      s.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

test('with the relay module unreachable, every scale and reader is connected at once, and the valves close in parallel', async () => {
  let connections = 0;
  // One listener per scale and reader: one physical device in two roles is a config error (issue 10 point 3).
  const listeners = await Promise.all(Array.from({ length: 12 }, () => listen(() => connections++)));
  const closeAll = () => Promise.all(listeners.map((l) => new Promise((res) => l.server.close(res))));
  // A port nobody listens on: take one and close it.
  const dead = await listen(() => undefined);
  await new Promise((r) => dead.server.close(r));
  const posts = [1, 2, 3, 4, 5, 6].map((i) => ({
    id: `P${i}`,
    medium: 'LPG',
    scale: { kind: 'stream', link: `tcp://127.0.0.1:${listeners[2 * i - 2]!.port}`, format: 'xk3190-a9' },
    reader: { link: `tcp://127.0.0.1:${listeners[2 * i - 1]!.port}` },
    valve: { bus: 'relays', unit: 1, coil: i - 1 },
  }));
  const r = validateConfig({ station: { code: 'ST01', unit: 'U1' }, dataDir: '/tmp/unused', buses: { relays: { url: `modbus-tcp://127.0.0.1:${dead.port}`, timeoutMs: 200 } }, posts });
  if (!r.ok) {
    await closeAll();
    assert.unreachable(JSON.stringify(r.errors));
    return;
  }
  const devices = buildDevices(r.config, systemClock);
  const t0 = Date.now();
  let connectedAt = 0;
  try {
    const started = devices.start().then(() => Date.now() - t0);
    while (connections < 12 && Date.now() - t0 < 20_000) await new Promise((res) => setTimeout(res, 10));
    connectedAt = Date.now() - t0;
    const startMs = await started;
    assert.is(connections, 12, 'six scales and six readers connected');
    assert.ok(connectedAt < 1500, `scales and readers connected after ${connectedAt} ms: they waited for the valves`);
    assert.ok(startMs < 5000, `start took ${startMs} ms: the valves' close confirmations ran one after another`);
    const p1 = devices.posts.get('P1')!;
    assert.is(p1.valve.getHealth().state, 'offline');
    assert.match(valveProblem(p1.valve) ?? '', new RegExp(`^relay module unreachable \\(ECONNREFUSED 127\\.0\\.0\\.1:${dead.port}\\)$`));
  } finally {
    await devices.stop();
    await closeAll();
  }
});

test('healthView: wall-clock lastOkAt at the station offset, no stale error when online', () => {
  const clock = new ManualClock(5_000, Date.UTC(2026, 0, 1, 0, 0, 0));
  const cfg = { records: { utcOffsetMinutes: 480 } };
  const online = healthView({ device: 'P1.scale', state: 'online', lastError: 'TIMEOUT', lastOkAt: 4_000, framesDiscarded: 0, requests: 3, failures: 1 }, clock, cfg);
  assert.is(online.lastError, undefined);
  // mono 4000 was 1 s before now (wall = epoch + 5000).
  assert.is(online.lastOkAt, '2026-01-01T08:00:04.000+08:00');
  const offline = healthView({ device: 'P1.scale', state: 'offline', lastError: 'TIMEOUT', framesDiscarded: 0, requests: 3, failures: 1 }, clock, cfg);
  assert.is(offline.lastError, 'TIMEOUT');
});

test('stationIso: the configured offset, else the PC offset at that moment', () => {
  const at = Date.UTC(2026, 0, 1, 0, 0, 0);
  assert.is(stationIso({ records: { utcOffsetMinutes: 480 } }, at), '2026-01-01T08:00:00.000+08:00');
  assert.is(stationIso({ records: { utcOffsetMinutes: -90 } }, at), '2025-12-31T22:30:00.000-01:30');
  assert.is(Date.parse(stationIso({ records: {} }, at)), at);
});

test.run();
