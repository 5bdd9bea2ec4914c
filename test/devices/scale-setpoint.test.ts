/**
 * The setpoint limit (issue 9 point 7) as pure data and through the driver: the gross limit
 * encoded into the indicator's counts (never rounded up), decoded back, validated, and
 * programmed with one write and one read-back that must match.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit } from './fake-modbus-unit.ts';
import { decodeValue } from '../../protocols/modbus/registers.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import { decodeSetpoint, encodeSetpoint, validateScaleMap, type ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import { resolveScaleMap, scalePresets } from '../../devices/scale/presets/index.ts';

const cas = () => resolveScaleMap('cas-ci600d');

test('CAS CI-600D: set point 1 at 40017/40018 (wire 16/17), high word first, in weight counts', () => {
  const map = cas();
  assert.equal(map.setpoint, { address: 16, type: 'int32', wordOrder: 'big' });
  // YSP35.5: tare 16.5 + allowed 14.9 = 31.4 kg → 3140 counts at 2 decimals.
  const e = encodeSetpoint(map, 31.4);
  assert.equal(e, { words: [0, 3140], counts: 3140, kg: 31.4 });
  assert.is(decodeSetpoint(map, e.words), 31.4);
  const big = encodeSetpoint(map, 1000);
  assert.equal(big.words, [1, 100000 - 65536]);
  assert.is(decodeSetpoint(map, big.words), 1000);
});

test('the limit is rounded down to a whole count, never up', () => {
  const map = cas();
  assert.is(encodeSetpoint(map, 31.409).kg, 31.4);
  assert.is(encodeSetpoint(map, 31.4099999).counts, 3140);
  const coarse: ScaleRegisterMap = { ...map, decimals: undefined, kgPerCount: 0.05 };
  assert.is(encodeSetpoint(coarse, 31.42).kg, 31.4); // 628.4 counts of 50 g → 628
  assert.is(encodeSetpoint(coarse, 31.45).counts, 629);
});

test('16-bit and float32 setpoints, own decimals, other word orders', () => {
  const base = cas();
  const u16: ScaleRegisterMap = { ...base, setpoint: { address: 3, type: 'uint16', decimals: 1 } };
  assert.equal(encodeSetpoint(u16, 31.46).words, [314]);
  assert.is(decodeSetpoint(u16, [314]), 31.4);
  const little: ScaleRegisterMap = { ...base, setpoint: { address: 3, type: 'int32', wordOrder: 'little' } };
  assert.equal(encodeSetpoint(little, 1000).words, [100000 - 65536, 1]);
  const f: ScaleRegisterMap = { ...base, setpoint: { address: 3, type: 'float32' } };
  const e = encodeSetpoint(f, 31.4);
  const back = decodeValue(e.words, { type: 'float32' });
  assert.ok(back <= 31.4 && 31.4 - back < 1e-5, `float32 ${back}`);
  assert.is(decodeSetpoint(f, e.words), back);
});

test('bad limits and maps are refused', () => {
  const map = cas();
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => encodeSetpoint(map, bad), (e: unknown) => isFillgateError(e, 'BAD_PAYLOAD'), String(bad));
  }
  assert.throws(() => encodeSetpoint(resolveScaleMap('flintec-ft112'), 31.4), (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
  // 16 bits cannot hold 1000.00 kg in counts of 0.01 kg.
  assert.throws(() => encodeSetpoint({ ...map, setpoint: { address: 3, type: 'int16' } }, 1000), (e: unknown) => isFillgateError(e, 'BAD_PAYLOAD'));
  const flintec = resolveScaleMap('flintec-ft112');
  assert.match(validateScaleMap({ ...flintec, setpoint: { address: 40, type: 'int32' } }).join(';'), /setpoint\.decimals: required/);
  assert.equal(validateScaleMap({ ...flintec, setpoint: { address: 40, type: 'int32', decimals: 2 } }), []);
  assert.match(validateScaleMap({ ...map, setpoint: { address: 70000, type: 'int32' } }).join(';'), /setpoint\.address/);
  assert.match(validateScaleMap({ ...map, setpoint: { address: 1, type: 'int64' as never } }).join(';'), /setpoint\.type/);
});

test('which presets carry a setpoint map: only those whose manual documents one', () => {
  const withSetpoint = Object.values(scalePresets).filter((p) => p.map.setpoint).map((p) => p.name);
  assert.equal(withSetpoint, ['cas-ci600d']);
  for (const p of Object.values(scalePresets)) {
    if (p.name === 'generic') continue;
    assert.ok(p.notes.some((n) => /^Setpoint limit: /.test(n)), `${p.name} says whether it has a setpoint limit`);
  }
});

test('driver: programLimit writes FC16, reads back FC03, resolves with the programmed kg', async () => {
  const unit = new FakeModbusUnit();
  const d = new ModbusScaleDriver({ id: 'P1.scale', unit, map: cas() });
  assert.ok(d.hasSetpoint);
  assert.is(await d.programLimit(31.4), 31.4);
  assert.equal(unit.calls.map((c) => [c.op, c.address, c.count ?? c.value]), [
    ['writeRegisters', 16, [0, 3140]],
    ['readHoldingRegisters', 16, 2],
  ]);
  assert.equal(unit.holding.slice(16, 18), [0, 3140]);
});

test('driver: a single-register setpoint is written with FC06', async () => {
  const unit = new FakeModbusUnit();
  const d = new ModbusScaleDriver({ id: 'P1.scale', unit, map: { ...cas(), setpoint: { address: 5, type: 'uint16' } } });
  await d.programLimit(31.4);
  assert.equal(unit.calls.map((c) => [c.op, c.address]), [['writeRegister', 5], ['readHoldingRegisters', 5]]);
});

test('driver: a read-back that differs rejects NOT_CONFIRMED; a failed write rejects too', async () => {
  const unit = new FakeModbusUnit();
  const d = new ModbusScaleDriver({ id: 'P1.scale', unit, map: cas() });
  // A unit that acknowledges the write but keeps its old set point.
  unit.writeRegisters = (address: number, values: number[]) => {
    unit.calls.push({ op: 'writeRegisters', address, value: values, t: performance.now() });
    return Promise.resolve();
  };
  unit.holding[16] = 0;
  unit.holding[17] = 5000;
  const err = await d.programLimit(31.4).then(() => undefined, (e: unknown) => e);
  assert.ok(isFillgateError(err, 'NOT_CONFIRMED'), String(err));
  assert.match((err as Error).message, /read back as 50 kg, wrote 31.4 kg/);

  const failing = new FakeModbusUnit();
  failing.failAll = true;
  const d2 = new ModbusScaleDriver({ id: 'P1.scale', unit: failing, map: cas() });
  await d2.programLimit(31.4).then(() => assert.unreachable('must reject'), () => undefined);
  assert.is(failing.callsOf('readHoldingRegisters').length, 0, 'no read-back after a failed write');
});

test.run();
