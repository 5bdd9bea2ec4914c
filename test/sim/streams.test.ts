import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scaleCodec } from '../../protocols/scale/index.ts';
import type { ScaleReading } from '../../protocols/scale/types.ts';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { ByteSink, eventually, portOf, testStation } from './helpers.ts';

let sim: Simulator;
const sinks: ByteSink[] = [];
const connect = async (device: string) => {
  const s = await ByteSink.connect(portOf(sim.endpoints()[device]!));
  sinks.push(s);
  return s;
};

test.before(async () => {
  const station = testStation();
  // A third post with a Toledo continuous-output scale (with checksum) to cover that format too.
  station.posts!.push({
    id: 'P3',
    scale: { protocol: 'toledo', divisionKg: 0.05, noiseKg: 0, framesPerSecond: 20, formatOptions: { checksum: true } },
    reader: {},
    valve: { bus: 'mb', unitId: 2, coil: 2 },
  });
  station.cylinders!.push({ code: 'BIG1', tareKg: 45.2, residualKg: 2.0 });
  sim = await startSimulator(station, { portsFromZero: true });
});
test.after(async () => {
  for (const s of sinks) s.close();
  await sim.close();
});

function decodeAll(format: 'xk3190-a9' | 'toledo', bytes: Buffer, opts = {}): { frames: ScaleReading[]; discarded: number } {
  const dec = scaleCodec(format, opts).decoder();
  const out = dec.push(bytes);
  return {
    frames: out.filter((e) => e.kind === 'frame').map((e) => (e as { frame: ScaleReading }).frame),
    discarded: out.filter((e) => e.kind === 'discarded').length,
  };
}

test('XK3190-A9 stream over TCP decodes with the shared codec to the simulated weight', async () => {
  const s = await connect('P2.scale');
  await eventually(() => decodeAll('xk3190-a9', s.bytes).frames.length >= 3, 5000, 'A9 frames');
  const empty = decodeAll('xk3190-a9', s.take());
  assert.is(empty.discarded, 0);
  assert.ok(empty.frames.every((f) => f.weightKg === 0));
  sim.place('P2', 'CYL2');
  await eventually(() => decodeAll('xk3190-a9', s.bytes).frames.some((f) => f.weightKg === 14.2), 5000, '14.2 kg on the wire');
  assert.is(sim.state().posts[1]!.scale.weightKg, 14.2);
});

test('Toledo continuous output with checksum decodes, carries motion and the weight', async () => {
  const s = await connect('P3.scale');
  sim.place('P3', 'BIG1');
  const opts = { checksum: true };
  const frames = await eventually(() => {
    const d = decodeAll('toledo', s.bytes, opts);
    return d.frames.some((f) => f.stable && f.weightKg === 47.2) ? d : undefined;
  }, 6000, 'stable 47.2 kg');
  assert.is(frames.discarded, 0);
  // Right after placing, the indicator reports motion.
  s.take();
  sim.remove('P3');
  sim.place('P3', 'BIG1');
  await eventually(() => decodeAll('toledo', s.bytes, opts).frames.some((f) => !f.stable), 3000, 'motion after placing');
});

test('frames keep coming at roughly the configured rate to every client', async () => {
  const a = await connect('P2.scale');
  const b = await connect('P2.scale');
  await eventually(() => decodeAll('xk3190-a9', a.bytes).frames.length >= 10 && decodeAll('xk3190-a9', b.bytes).frames.length >= 10, 8000, '10 frames each');
});

test('reader sends prefix + code + suffix; scan defaults to the cylinder on the scale; badges too', async () => {
  const r1 = await connect('P1.reader');
  const r2 = await connect('P2.reader');
  await eventually(() => sim.parts.readers.get('P2')!.endpoint.peerCount() > 0, 3000, 'reader client');
  assert.ok(sim.scan('P2'));
  assert.ok(sim.badge('P2', 'B1001'));
  await eventually(() => r2.bytes.length >= 13, 3000, 'P2 lines');
  assert.is(r2.take().toString('latin1'), '\x02CYL2\x03\x02B1001\x03');
  await eventually(() => sim.parts.readers.get('P1')!.endpoint.peerCount() > 0, 3000, 'reader client');
  sim.scan('P1', 'E2000017A1B20004');
  await eventually(() => r1.bytes.includes('\r\n'), 3000, 'P1 line');
  assert.is(r1.take().toString('latin1'), 'E2000017A1B20004\r\n');
  assert.throws(() => sim.scan('P1'), /no cylinder/);
});

test.run();
