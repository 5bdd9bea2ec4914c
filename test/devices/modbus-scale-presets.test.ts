import { readFileSync } from 'node:fs';
/**
 * Each preset decoded from register values computed from its manual's
 * description (devices.md section 1), through the real driver and a fake unit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit } from './fake-modbus-unit.ts';
import { encodeValue } from '../../protocols/modbus/registers.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import { validateScaleMap } from '../../devices/scale/modbus-scale-map.ts';
import { resolveScaleMap, scalePresets, type ScaleMapOverrides } from '../../devices/scale/presets/index.ts';

const int32 = (v: number) => encodeValue(v, { type: 'int32' });
const uint32 = (v: number) => encodeValue(v >>> 0, { type: 'uint32' });
const bits = (...n: number[]) => n.reduce((acc, b) => acc + 2 ** b, 0);

function driverFor(preset: string, unit: FakeModbusUnit, overrides: ScaleMapOverrides = {}) {
  return new ModbusScaleDriver({ id: 'post1.scale', unit, map: resolveScaleMap(preset, overrides), clock: new ManualClock(42) });
}

test('every preset validates, cites a source and says what is unverified', () => {
  const names = Object.keys(scalePresets);
  for (const required of ['generic', 'flintec-ft112', 'rinstrum-c500', 'minebea-pr5410', 'mettler-ind570']) {
    assert.ok(names.includes(required), required);
  }
  for (const p of Object.values(scalePresets)) {
    assert.equal(validateScaleMap(p.map), [], p.name);
    assert.ok(p.sources.length > 0 && p.notes.length > 0, p.name);
    assert.is(p.verified, false, `${p.name}: nothing was checked on hardware`);
  }
});

test('Flintec FT-112: gross 40005, status 40007 with decimal bits, error 40009, in one read', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('flintec-ft112', unit);
  unit.setHolding(4, int32(3550));
  unit.setHolding(6, uint32(bits(29))); // B29 = X.XX, stable, gross mode
  unit.setHolding(8, uint32(0));
  let s = await d.pollOnce();
  assert.equal(s, { device: 'post1.scale', at: 42, grossKg: 35.5, stable: true, overload: false, zero: false });
  assert.equal(
    unit.callsOf('readHoldingRegisters').map((c) => [c.address, c.count]),
    [[4, 6]],
  );

  unit.setHolding(4, int32(-120));
  unit.setHolding(6, uint32(bits(28, 2, 12))); // X.XXX, B2 unstable, B12 centre of zero
  s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.stable, s?.zero], [-0.12, false, true]);

  unit.setHolding(4, int32(36));
  unit.setHolding(6, uint32(bits(31))); // no decimal
  unit.setHolding(8, uint32(bits(4))); // ADC over range
  s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.overload], [36, true]);

  unit.setHolding(8, uint32(0));
  unit.setHolding(6, uint32(bits(31, 6))); // second unit: refused
  assert.is(await d.pollOnce(), undefined);
  unit.setHolding(6, uint32(0)); // no decimal-point bit at all: refused
  assert.is(await d.pollOnce(), undefined);
  assert.is(d.getStats().rejected, 2);
});

test('Flintec FT-112: zero and tare write 1 and 2 to the command register 40025', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('flintec-ft112', unit);
  await d.zero();
  await d.tare();
  assert.equal(
    unit.callsOf('writeRegister').map((c) => [c.address, c.value]),
    [[24, 1], [24, 2]],
  );
});

test('Rinstrum C500: FC04 gross at 1 and status at 7 in one read, motion/overload/centre-of-zero bits', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('rinstrum-c500', unit);
  unit.setInput(1, int32(1234));
  unit.setInput(7, uint32(bits(3))); // gross mode, no motion
  let s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.stable, s?.overload, s?.zero], [12.34, true, false, false]);
  assert.equal(unit.callsOf('readInputRegisters').map((c) => [c.address, c.count]), [[1, 8]]);
  assert.is(unit.callsOf('readHoldingRegisters').length, 0);

  unit.setInput(7, uint32(bits(2, 1, 6)));
  s = await d.pollOnce();
  assert.equal([s?.stable, s?.overload, s?.zero], [false, true, true]);

  await d.zero();
  await d.tare();
  assert.equal(unit.callsOf('writeCoil').map((c) => [c.address, c.value]), [[0, true], [1, true]]);
});

test('Minebea PR 5410: gross words 16/17 MSB first, status bits 32..39 in the high byte of word 2', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('minebea-pr5410', unit, { decimals: 1 });
  unit.setHolding(16, int32(1185)); // 118.5 kg with one decimal
  unit.setHolding(2, [bits(38 - 24)]); // bit 38 weight stable
  let s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.stable, s?.overload, s?.zero], [118.5, true, false, false]);
  assert.equal(unit.callsOf('readHoldingRegisters').map((c) => [c.address, c.count]), [[2, 16]]);

  unit.setHolding(2, [bits(33 - 24, 36 - 24)]); // above Max, zero within 1/4 d, not stable
  s = await d.pollOnce();
  assert.equal([s?.stable, s?.overload, s?.zero], [false, true, true]);

  await d.tare();
  assert.equal(unit.callsOf('writeCoil').map((c) => [c.address, c.value]), [[113, true]]);
});

test('Mettler IND570 slot 1: float value, motion bit 12, net bit 13 refused, bits 5 and 15 required', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('mettler-ind570', unit);
  unit.setHolding(1, encodeValue(35.5, { type: 'float32' }));
  unit.setHolding(3, [bits(5, 15)]);
  let s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.stable, s?.overload], [35.5, true, false]);
  assert.equal(unit.callsOf('readHoldingRegisters').map((c) => [c.address, c.count]), [[1, 3]]);

  unit.setHolding(3, [bits(5, 15, 12)]);
  assert.is((await d.pollOnce())?.stable, false);

  unit.setHolding(3, [bits(5, 15, 13)]); // net mode: a net value must never pass as gross
  assert.is(await d.pollOnce(), undefined);
  assert.match(d.getStats().lastError ?? '', /net/);

  unit.setHolding(3, [bits(15)]); // bit 5 missing: wrong address base
  assert.is(await d.pollOnce(), undefined);

  try {
    await d.zero();
    assert.unreachable('IND570 preset has no zero command');
  } catch (err) {
    assert.ok(isFillgateError(err, 'BAD_CONFIG'));
  }
  assert.is(d.canZero, false);
});

test('Mettler IND570 with the terminal left at Word Swap: override wordOrder little', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('mettler-ind570', unit, { weight: { wordOrder: 'little' }, capacityKg: 100 });
  unit.setHolding(1, encodeValue(101.25, { type: 'float32', wordOrder: 'little' }));
  unit.setHolding(3, [bits(5, 15)]);
  const s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.overload], [101.25, true]);
});

test('generic preset: int32 at 0 with 2 decimals, no status means never stable', async () => {
  const unit = new FakeModbusUnit();
  const d = driverFor('generic', unit);
  unit.setHolding(0, int32(4990));
  const s = await d.pollOnce();
  assert.equal([s?.grossKg, s?.stable, s?.overload], [49.9, false, false]);
});

test('resolveScaleMap: unknown preset, null removes a field, overrides are validated', () => {
  assert.throws(() => resolveScaleMap('no-such-scale'), (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
  const m = resolveScaleMap('flintec-ft112', { commands: null, weight: { address: 104 } });
  assert.is(m.commands, undefined);
  assert.is(m.weight.address, 104);
  assert.is(m.weight.type, 'int32', 'fields not overridden stay');
  assert.is(scalePresets['flintec-ft112']!.map.weight.address, 4, 'the preset itself is not changed');
  assert.throws(
    () => resolveScaleMap('generic', { weight: { kind: 'displayed' } }),
    (e: unknown) => isFillgateError(e, 'BAD_CONFIG') && /status\.net/.test((e as Error).message),
  );
  assert.throws(() => resolveScaleMap('generic', { kgPerCount: 0.02 }), /decimals\/kgPerCount/);
  assert.is(resolveScaleMap('generic', { decimals: null, kgPerCount: 0.02 }).kgPerCount, 0.02);
});

test('decimals and kgPerCount together: the error says how to switch from one to the other (issue 12 point 13)', () => {
  // The generic preset has decimals: 2; an indicator sending 20 g divisions needs kgPerCount instead.
  try {
    resolveScaleMap('generic', { kgPerCount: 0.02 });
    assert.unreachable('both set');
  } catch (err) {
    const msg = (err as Error).message;
    assert.match(msg, /decimals: null, kgPerCount: 0\.02/);
    assert.match(msg, /kgPerCount: null, decimals:/);
  }
  assert.is(resolveScaleMap('generic', { decimals: null, kgPerCount: 0.02 }).kgPerCount, 0.02);
});

test("the generic preset's comment names the real config key (overrides), not one that does not exist", () => {
  const src = readFileSync(new URL('../../devices/scale/presets/generic.ts', import.meta.url), 'utf8');
  assert.not.match(src, /scale\.map\b/);
  assert.match(src, /scale\.overrides/);
});

test.run();
