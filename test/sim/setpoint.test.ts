/**
 * The simulated indicator's setpoint output (issue 9 point 7): setpoint registers read and
 * written over Modbus, the output switching at gross ≥ setpoint with a 'setpoint' entry in the
 * wire log, the valve losing power where the station wires it (cutBySetpoint) even with a
 * welded relay contact, and the ignore-setpoint fault.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeValue, encodeValue } from '../../protocols/modbus/registers.ts';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { closeClient, eventually, modbusClient, testStation, type ModbusClient } from './helpers.ts';

let sim: Simulator;
const clients: ModbusClient[] = [];
const client = async (device: string) => {
  const c = await modbusClient(sim.endpoints()[device]!);
  clients.push(c);
  return c;
};

test.before(async () => {
  const st = testStation();
  st.posts[0]!.scale = {
    protocol: 'modbus',
    bus: 'mb',
    unitId: 1,
    registerMap: { weightAddress: 0, type: 'int32', statusAddress: 2, motionBit: 0, setpointAddress: 4 },
    divisionKg: 0.02,
    noiseKg: 0,
    updateHz: 20,
  };
  st.posts[0]!.valve = { ...st.posts[0]!.valve, cutBySetpoint: true, watchdogMs: undefined };
  sim = await startSimulator(st, { portsFromZero: true });
});
test.after(async () => {
  for (const c of clients) await closeClient(c);
  await sim.close();
});
test.after.each(() => sim.clearFaults());

const setpointOf = async (c: ModbusClient) => decodeValue((await c.readHoldingRegisters(4, 2)).data, { type: 'int32' });

test('setpoint registers: 0 until written, FC16 and FC06 store, FC03 reads back; the station reports it', async () => {
  const scale = await client('P1.scale');
  assert.is(await setpointOf(scale), 0);
  assert.equal(sim.state().posts[0]!.setpoint, { kg: 0, output: false });
  await scale.writeRegisters(4, encodeValue(3140, { type: 'int32' }));
  assert.is(await setpointOf(scale), 3140);
  assert.equal(sim.state().posts[0]!.setpoint, { kg: 31.4, output: false });
  await scale.writeRegister(5, 3000);
  assert.is(await setpointOf(scale), 3000);
  // The weight registers are untouched by setpoint writes.
  assert.equal((await scale.readHoldingRegisters(0, 2)).data, [0, 0]);
});

test('ignore-setpoint: the write is acknowledged but the old setpoint stays', async () => {
  const scale = await client('P1.scale');
  await scale.writeRegisters(4, encodeValue(1000, { type: 'int32' }));
  sim.setFault({ device: 'P1.scale', kind: 'ignore-setpoint' });
  await scale.writeRegisters(4, encodeValue(3140, { type: 'int32' }));
  assert.is(await setpointOf(scale), 1000);
  assert.throws(() => sim.setFault({ device: 'P1.valve', kind: 'ignore-setpoint' }), /does not apply/);
});

test('the output switches at gross ≥ setpoint, is logged, and cuts the valve power even with a welded relay', async () => {
  sim.place('P1', 'CYL1'); // 16.5 + 0.6 = 17.1 kg
  const scale = await client('P1.scale');
  const valve = await client('P1.valve');
  await scale.writeRegisters(4, encodeValue(1760, { type: 'int32' })); // 17.6 kg: 0.5 kg to go at 30 kg/min
  const since = sim.wire.lastSeq;
  await valve.writeCoil(0, true);
  sim.setFault({ device: 'P1.valve', kind: 'welded-relay' });
  await valve.writeCoil(0, false); // acknowledged, but the contact stays closed: gas keeps flowing
  assert.is(sim.state().posts[0]!.valve.energised, true);
  await eventually(() => sim.state().posts[0]!.setpoint?.output, 5000, 'setpoint output on');
  const s = sim.state().posts[0]!;
  assert.is(s.valve.setpointCut, true);
  assert.is(s.valve.energised, false);
  const logged = sim.wire.entries({ kind: 'setpoint', since });
  assert.equal(logged.map((e) => [e.bus, e.unitId, e.devices, e.on, e.value]), [['mb', 1, ['P1.scale'], true, 17.6]]);
  await eventually(() => !sim.state().posts[0]!.valve.open, 3000, 'valve closed by the setpoint output');
  await new Promise((r) => setTimeout(r, 200));
  const gas = sim.state().posts[0]!.cylinder!.gasKg;
  // Limit 17.6 − 16.5 = 1.1 kg of gas; in flight: 30 kg/min over the 100 ms close, a 50 ms indicator update, a 10 ms check.
  assert.ok(gas <= 1.1 + 0.5 * 0.2, `gas ${gas}`);
  // A higher setpoint (a new limit) switches the output off again; power follows the welded contact.
  await scale.writeRegisters(4, encodeValue(5000, { type: 'int32' }));
  assert.is(sim.state().posts[0]!.setpoint?.output, false);
  assert.equal(sim.wire.entries({ kind: 'setpoint', since }).map((e) => e.on), [true, false]);
  sim.clearFaults('P1.valve');
  assert.is(sim.state().posts[0]!.valve.energised, false, 'freed contact follows the coil (OFF)');
  sim.remove('P1');
});

test('without cutBySetpoint the output is only logged: the valve keeps its power', async () => {
  const st = testStation();
  st.posts[0]!.scale = { protocol: 'modbus', bus: 'mb', unitId: 1, registerMap: { weightAddress: 0, type: 'int32', setpointAddress: 4 }, divisionKg: 0.02, noiseKg: 0 };
  const other = await startSimulator(st, { portsFromZero: true });
  try {
    other.place('P1', 'CYL1');
    const c = await modbusClient(other.endpoints()['P1.scale']!);
    const v = await modbusClient(other.endpoints()['P1.valve']!);
    await v.writeCoil(0, true);
    await c.writeRegisters(4, encodeValue(1000, { type: 'int32' })); // already above: on at once
    await eventually(() => other.state().posts[0]!.setpoint?.output, 3000, 'output on');
    assert.is(other.state().posts[0]!.valve.energised, true);
    assert.is(other.state().posts[0]!.valve.setpointCut, false);
    await v.writeCoil(0, false);
    await closeClient(c);
    await closeClient(v);
  } finally {
    await other.close();
  }
});

test.run();
