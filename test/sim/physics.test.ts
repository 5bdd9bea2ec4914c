import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CylinderOnScale, ScaleModel, mulberry32 } from '../../sim/physics.ts';

const near = (a: number, b: number, eps = 1e-9) => Math.abs(a - b) <= eps;

function cylinder(extra: Partial<ConstructorParameters<typeof CylinderOnScale>[0]> = {}) {
  return new CylinderOnScale({ tareKg: 13.5, residualKg: 0.4, flowKgPerMin: 12, openDelayMs: 100, closeDelayMs: 150, ...extra });
}

test('mulberry32 is seeded: same seed same sequence, values in [0,1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const sa = Array.from({ length: 5 }, a);
  assert.equal(sa, Array.from({ length: 5 }, b));
  assert.not.equal(sa, Array.from({ length: 5 }, c));
  for (const v of Array.from({ length: 1000 }, mulberry32(7))) assert.ok(v >= 0 && v < 1);
});

test('no flow before the open delay, then flow at the configured rate', () => {
  const c = cylinder();
  c.commandValve(true, 1000);
  assert.is(c.gasKg(1099), 0.4);
  assert.not.ok(c.valveOpenAt(1099));
  assert.ok(c.valveOpenAt(1100));
  // 12 kg/min = 0.2 kg/s: 5 s of flow = 1 kg
  assert.ok(near(c.gasKg(6100), 1.4));
  assert.ok(near(c.grossKg(6100), 14.9));
});

test('in-flight mass: flow continues closeDelayMs after the close command', () => {
  const c = cylinder();
  c.commandValve(true, 0);
  c.commandValve(false, 10_100); // flowed 10 s = 2 kg by now
  assert.ok(near(c.gasKg(10_100), 2.4));
  assert.ok(c.valveOpenAt(10_200));
  assert.not.ok(c.valveOpenAt(10_250));
  // 150 ms in flight at 0.2 kg/s = 0.03 kg
  assert.ok(near(c.gasKg(20_000), 2.43));
  assert.not.ok(c.commandedOpen);
});

test('closing during the open delay lets no gas through when close is shorter', () => {
  const c = cylinder({ openDelayMs: 200, closeDelayMs: 50 });
  c.commandValve(true, 0);
  c.commandValve(false, 100);
  assert.is(c.gasKg(10_000), 0.4);
});

test('reopening while still closing does not count the overlap twice', () => {
  const c = cylinder({ openDelayMs: 50, closeDelayMs: 200 });
  c.commandValve(true, 0); // flow from 50
  c.commandValve(false, 1050); // would stop at 1250
  c.commandValve(true, 1100); // would restart at 1150 < 1250: never closed
  assert.ok(near(c.gasKg(2050), 0.4 + 0.2 * 2));
  assert.ok(c.valveOpenAt(1300));
});

test('stuck-open valve ignores the close command; slow valve lengthens in-flight mass', () => {
  const stuck = cylinder();
  stuck.stuckOpen = true;
  stuck.commandValve(true, 0);
  stuck.commandValve(false, 1100);
  assert.ok(stuck.valveOpenAt(60_000));
  assert.ok(near(stuck.gasKg(60_100), 0.4 + 12));
  const slow = cylinder();
  slow.closeDelayMs = 1150;
  slow.commandValve(true, 0);
  slow.commandValve(false, 1100);
  assert.ok(near(slow.gasKg(10_000), 0.4 + 0.2 * 2.15));
});

test('time running backwards is clamped', () => {
  const c = cylinder({ openDelayMs: 0, closeDelayMs: 0 });
  c.commandValve(true, 1000);
  c.commandValve(false, 500); // treated as 1000
  assert.is(c.gasKg(5000), 0.4);
});

test('bad options are refused', () => {
  assert.throws(() => cylinder({ flowKgPerMin: Number.NaN }), /flowKgPerMin/);
  assert.throws(() => new ScaleModel({ divisionKg: 0, noiseKg: 0, updateHz: 10 }), /divisionKg/);
});

test('scale quantises to the division without float dust', () => {
  const s = new ScaleModel({ divisionKg: 0.02, noiseKg: 0, updateHz: 10 });
  assert.is(s.reading(13.9349, 0), 13.94);
  assert.is(s.decimalPlaces, 2);
  const f = new ScaleModel({ divisionKg: 0.05, noiseKg: 0, updateHz: 10 });
  assert.is(f.reading(10.07, 0), 10.05);
  assert.is(f.reading(10.08, 100), 10.1);
});

test('scale holds its value between internal updates', () => {
  const s = new ScaleModel({ divisionKg: 0.01, noiseKg: 0, updateHz: 10 });
  assert.is(s.reading(5, 1000), 5);
  assert.is(s.reading(6, 1099), 5); // same 100 ms update period
  assert.is(s.reading(6, 1100), 6);
});

test('noise is bounded by noiseKg + half a division and is not constant', () => {
  const s = new ScaleModel({ divisionKg: 0.02, noiseKg: 0.05, updateHz: 10, seed: 3 });
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const r = s.reading(20, i * 100);
    assert.ok(Math.abs(r - 20) <= 0.05 + 0.01 + 1e-9, `reading ${r}`);
    seen.add(r);
  }
  assert.ok(seen.size > 3);
});

test('same seed gives the same readings', () => {
  const a = new ScaleModel({ divisionKg: 0.02, noiseKg: 0.05, updateHz: 10, seed: 9 });
  const b = new ScaleModel({ divisionKg: 0.02, noiseKg: 0.05, updateHz: 10, seed: 9 });
  for (let i = 0; i < 50; i++) assert.is(a.reading(20, i * 100), b.reading(20, i * 100));
});

test('motion detector: stable at rest, unstable while filling', () => {
  const s = new ScaleModel({ divisionKg: 0.02, noiseKg: 0, updateHz: 10 });
  for (let i = 0; i < 10; i++) s.reading(20, i * 100);
  assert.ok(s.stable);
  const c = cylinder({ openDelayMs: 0 });
  c.commandValve(true, 0);
  for (let i = 0; i < 10; i++) s.reading(c.grossKg(i * 100), 1000 + i * 100);
  assert.not.ok(s.stable);
});

test.run();
