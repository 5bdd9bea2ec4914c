/** The Modbus input driver: edges, baseline, debounce, inversion, failures. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit, eventually } from './fake-modbus-unit.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { ModbusInputDriver } from '../../devices/io/modbus-input.ts';
import { tcpRig } from './modbus-tcp-rig.ts';

function setup(extra: { invert?: boolean; debounceReads?: number; kind?: 'discrete' | 'coil' } = {}) {
  const unit = new FakeModbusUnit();
  const input = new ModbusInputDriver({ id: 'post1.start', unit, kind: extra.kind ?? 'discrete', address: 4, clock: new ManualClock(9), ...extra });
  const edges: boolean[] = [];
  input.edges.on((e) => {
    assert.equal([e.device, e.at], ['post1.start', 9]);
    edges.push(e.value);
  });
  return { unit, input, edges };
}

test('the first read is a baseline; later changes are edges both ways', async () => {
  const { unit, input, edges } = setup();
  unit.discrete[4] = true; // held at start: not a press
  await input.pollOnce();
  assert.equal(edges, []);
  assert.is(input.value, true);
  unit.discrete[4] = false;
  await input.pollOnce();
  unit.discrete[4] = true;
  await input.pollOnce();
  await input.pollOnce();
  assert.equal(edges, [false, true]);
});

test('debounce: a change must hold for N reads', async () => {
  const { unit, input, edges } = setup({ debounceReads: 3 });
  await input.pollOnce();
  unit.discrete[4] = true;
  await input.pollOnce();
  await input.pollOnce();
  unit.discrete[4] = false; // bounce
  await input.pollOnce();
  unit.discrete[4] = true;
  await input.pollOnce();
  await input.pollOnce();
  assert.equal(edges, []);
  await input.pollOnce();
  assert.equal(edges, [true]);
});

test('invert for normally-closed contacts, and coil read-back', async () => {
  const { unit, input, edges } = setup({ invert: true, kind: 'coil' });
  unit.coils[4] = true;
  await input.pollOnce();
  assert.is(input.value, false);
  unit.coils[4] = false; // contact opened: stop pressed
  await input.pollOnce();
  assert.equal(edges, [true]);
  assert.ok(unit.callsOf('readCoils').length === 2 && unit.callsOf('readDiscreteInputs').length === 0);
});

test('the loop survives failures, keeps the last value and reports changes after recovery', async () => {
  const unit = new FakeModbusUnit();
  const edges: boolean[] = [];
  const inputFast = new ModbusInputDriver({ id: 'post1.start', unit, kind: 'discrete', address: 4, pollMs: 10 });
  inputFast.edges.on((e) => edges.push(e.value));
  await inputFast.start();
  await eventually(() => inputFast.value === false);
  unit.failAll = true;
  await eventually(() => inputFast.readFailures >= 3);
  unit.discrete[4] = true;
  assert.is(inputFast.value, false);
  unit.failAll = false;
  await eventually(() => edges.length === 1);
  assert.equal(edges, [true]);
  await inputFast.stop();
  const n = unit.calls.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.is(unit.calls.length, n, 'no polls after stop');
});

test('bad configuration is refused', () => {
  const unit = new FakeModbusUnit();
  const bad = (fn: () => unknown) => assert.throws(fn, (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
  bad(() => new ModbusInputDriver({ id: 'i', unit, kind: 'discrete', address: 70000 }));
  bad(() => new ModbusInputDriver({ id: 'i', unit, kind: 'discrete', address: 1, pollMs: 1 }));
  bad(() => new ModbusInputDriver({ id: 'i', unit, kind: 'discrete', address: 1, debounceReads: 0 }));
});

test('over a real Modbus TCP connection: a discrete input change becomes an edge', async () => {
  const rig = await tcpRig();
  const coils = rig.units.coils.get(1)!;
  coils[7] = true; // discrete input 7 reads false
  const input = new ModbusInputDriver({ id: 'tcp.start', unit: rig.unit, kind: 'discrete', address: 7, pollMs: 10 });
  const edges: boolean[] = [];
  input.edges.on((e) => edges.push(e.value));
  await input.start();
  await eventually(() => input.value === false, 8000, 'baseline');
  coils[7] = false; // discrete input 7 now reads true: button pressed
  await eventually(() => edges.length === 1, 8000, 'edge');
  await input.stop();
  await rig.close();
  assert.equal(edges, [true]);
});

test.run();
