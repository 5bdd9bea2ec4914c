import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StreamScaleDriver } from '../../devices/scale/stream-scale.ts';
import type { DeviceHealth, WeightSample } from '../../devices/types.ts';
import { ManualClock, type Clock } from '../../protocols/clock.ts';
import { createLink } from '../../protocols/link/create.ts';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { encodeAscii } from '../../protocols/scale/ascii.ts';
import { encodeToledo } from '../../protocols/scale/toledo.ts';
import { encodeA9 } from '../../protocols/scale/xk3190-a9.ts';
import { eventually, flush } from '../fixtures/wait.ts';

async function rig(format: 'xk3190-a9' | 'toledo' | 'ascii', extra: { staleAfterMs?: number; clock?: Clock } = {}) {
  const [device, gateway] = memoryLinkPair({ maxChunk: 5 });
  await device.open();
  const clock = new ManualClock(1000);
  // These tests are about framing, samples and health: one frame is one reading here. The
  // plausibility filter (every new level held for 3 frames) has its own tests.
  const driver = new StreamScaleDriver({ id: 'post1.scale', link: gateway, format, clock, plausibility: { confirmFrames: 1 }, ...extra });
  const samples: WeightSample[] = [];
  const health: DeviceHealth[] = [];
  driver.samples.on((s) => samples.push(s));
  driver.health.on((h) => health.push(h));
  await driver.start();
  const send = async (b: Buffer) => {
    await device.write(b);
    await flush(b.length + 3);
  };
  return { device, gateway, clock, driver, samples, health, send };
}

test('Toledo net frames become gross = net + tare, stamped with clock.now(), device goes online', async () => {
  const r = await rig('toledo');
  assert.is(r.gateway.state, 'open', 'start() opened the link');
  r.clock.advance(7);
  await r.send(encodeToledo({ weightKg: 12.5, stable: false, overload: false, net: true, tareKg: 15.2 }));
  assert.equal(r.samples, [{ device: 'post1.scale', grossKg: 27.7, stable: false, overload: false, at: 1007 }]);
  assert.is(r.driver.getHealth().state, 'online');
  assert.is(r.driver.getHealth().lastOkAt, 1007);
  assert.equal(r.health.map((h) => h.state), ['online']);
  await r.driver.stop();
  assert.is(r.gateway.state, 'closed', 'stop() closes the link it opened');
  assert.is(r.driver.getHealth().state, 'offline');
});

test('A9 has no motion flag: stable only after stableWindow equal readings; changes reset it', async () => {
  const r = await rig('xk3190-a9');
  for (const kg of [10, 10, 10, 10, 10.02, 10.02, 10.02]) await r.send(encodeA9(kg, 2));
  assert.equal(r.samples.map((s) => s.stable), [false, false, true, true, false, false, true]);
  assert.equal(r.samples.map((s) => s.grossKg), [10, 10, 10, 10, 10.02, 10.02, 10.02]);
  assert.ok(r.samples.every((s) => s.overload === false));
  await r.driver.stop();
});

test('a net line without tare is not turned into a weight; garbage and bad checks are counted with reasons', async () => {
  const r = await rig('ascii');
  const reasons: string[] = [];
  r.driver.discarded.on((d) => reasons.push(d.reason));
  await r.send(encodeAscii({ weightKg: 5, stable: true, overload: false, net: true }));
  await r.send(Buffer.from('line noise\r\n'));
  await r.send(encodeAscii({ weightKg: 20.5, stable: true, overload: false }));
  await r.send(encodeAscii({ weightKg: 0, stable: true, overload: true }));
  assert.equal(r.samples.map((s) => [s.grossKg, s.stable, s.overload]), [[20.5, true, false], [0, false, true]]);
  assert.is(r.driver.getHealth().framesDiscarded, 2);
  assert.match(reasons[0], /net weight without tare/);
  assert.match(reasons[1], /does not match/);
  await r.driver.stop();
});

test('an ASCII line cut short is counted as discarded and never becomes a sample (issue 12 point 10)', async () => {
  const r = await rig('ascii');
  const good = encodeAscii({ weightKg: 16.52, stable: true, overload: false });
  for (const b of [good, Buffer.from('ST,GS,+001\r\n'), good, Buffer.from('ST,GS,+0016.5\r\n'), good]) await r.send(b);
  assert.equal(r.samples.map((s) => s.grossKg), [16.52, 16.52, 16.52]);
  assert.is(r.driver.getHealth().framesDiscarded, 2);
  await r.driver.stop();
});

test('staleness: offline when nothing arrives, degraded when only garbage arrives, offline at once on a link drop', async () => {
  const r = await rig('toledo', { staleAfterMs: 500 });
  const frame = encodeToledo({ weightKg: 3, stable: true, overload: false });
  await r.send(frame);
  assert.is(r.driver.getHealth().state, 'online');
  r.clock.advance(499);
  r.driver.checkStale();
  assert.is(r.driver.getHealth().state, 'online', 'still fresh just before the limit');
  r.clock.advance(2);
  r.driver.checkStale();
  assert.is(r.driver.getHealth().state, 'offline');
  assert.match(r.driver.getHealth().lastError!, /no frame for 501 ms/);
  await r.send(frame);
  assert.is(r.driver.getHealth().state, 'online');
  r.clock.advance(300);
  await r.send(Buffer.from('\x02garbage-garbage-garbage\r'));
  r.clock.advance(300);
  r.driver.checkStale();
  assert.is(r.driver.getHealth().state, 'degraded', 'bytes flow but nothing decodes');
  r.device.drop('device server rebooted');
  assert.is(r.driver.getHealth().state, 'offline');
  assert.match(r.driver.getHealth().lastError!, /device server rebooted/);
  // A half frame from before the drop does not join the bytes after it.
  r.device.restore();
  await r.send(frame);
  assert.is(r.driver.getHealth().state, 'online');
  assert.equal(r.health.map((h) => h.state), ['online', 'offline', 'online', 'degraded', 'offline', 'online']);
  await r.driver.stop();
});

test('a half frame before a drop is forgotten; a throwing clock or listener never ends the stream', async () => {
  let throwNext = false;
  const base = new ManualClock(0);
  const clock: Clock = { now: () => { if (throwNext) { throwNext = false; throw new Error('clock broke'); } return base.now(); }, wall: () => base.wall() };
  const r = await rig('xk3190-a9', { clock });
  r.driver.samples.on(() => { throw new Error('consumer bug'); });
  const f = encodeA9(7, 1);
  await r.send(f.subarray(0, 6));
  r.device.drop();
  r.device.restore();
  await r.send(f.subarray(6)); // tail alone: must not complete the old half
  await r.send(f);
  assert.equal(r.samples.map((s) => s.grossKg), [7]);
  throwNext = true;
  await r.send(f);
  await r.send(f);
  assert.equal(r.samples.map((s) => s.grossKg), [7, 7]);
  assert.match(r.driver.getHealth().lastError ?? '', /clock broke|ETX|frame/);
  await r.driver.stop();
});

test('over a real TCP socket: a device server streaming A9 frames in odd pieces', async () => {
  const frames = [encodeA9(15.2, 2), encodeA9(15.2, 2), encodeA9(15.2, 2), encodeA9(15.4, 2)];
  const wire = Buffer.concat([Buffer.from('boot noise'), ...frames]);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let i = 0;
    const pieces = [3, 11, 1, 17, 7, 13];
    const timer = setInterval(() => {
      if (i >= wire.length) return clearInterval(timer);
      const n = pieces[i % pieces.length];
      s.write(wire.subarray(i, i + n));
      i += n;
    }, 5);
    s.on('close', () => clearInterval(timer));
    s.on('error', () => undefined);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as net.AddressInfo).port;
  const link = createLink(`tcp://127.0.0.1:${port}`);
  const driver = new StreamScaleDriver({ id: 'tcp.scale', link, format: 'xk3190-a9', staleAfterMs: 5000, plausibility: { confirmFrames: 1 } });
  const samples: WeightSample[] = [];
  driver.samples.on((s) => samples.push(s));
  try {
    await driver.start();
    await eventually(() => samples.length === 4, 10_000, 'four samples');
    assert.equal(samples.map((s) => [s.grossKg, s.stable]), [[15.2, false], [15.2, false], [15.2, true], [15.4, false]]);
    assert.is(driver.getHealth().framesDiscarded, 1, 'the boot noise');
    assert.is(driver.getHealth().state, 'online');
  } finally {
    await driver.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test.run();
