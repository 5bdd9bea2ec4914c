import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeValue } from '../../protocols/modbus/registers.ts';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { FaultBook } from '../../sim/faults.ts';
import { SimScale } from '../../sim/devices/scale.ts';
import { ModbusScaleUnit } from '../../sim/devices/modbus-scale.ts';
import { modbusScaleSchema } from '../../sim/station.ts';
import { closeClient, eventually, modbusClient, testStation, type ModbusClient } from './helpers.ts';

let sim: Simulator;
const clients: ModbusClient[] = [];
const client = async (device: string, kind: 'tcp' | 'rtu-tcp' = 'tcp') => {
  const c = await modbusClient(sim.endpoints()[device]!, kind);
  clients.push(c);
  return c;
};

test.before(async () => {
  sim = await startSimulator(testStation(), { portsFromZero: true });
});
test.after(async () => {
  for (const c of clients) await closeClient(c);
  await sim.close();
});

test('endpoints name every device with a URL a gateway can open', () => {
  const e = sim.endpoints();
  assert.equal(Object.keys(e).sort(), ['P1.reader', 'P1.scale', 'P1.valve', 'P2.reader', 'P2.scale', 'P2.valve', 'check.scale']);
  assert.match(e['P1.scale']!, /^modbus-tcp:\/\/127\.0\.0\.1:\d+#unit=1$/);
  assert.match(e['P1.valve']!, /^modbus-tcp:\/\/127\.0\.0\.1:\d+#unit=2$/);
  assert.match(e['check.scale']!, /^modbus-rtu-tcp:\/\/127\.0\.0\.1:\d+#unit=5$/);
  assert.match(e['P2.scale']!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(sim.deviceEndpoints()['P1.valve']!.unitId, 2);
});

test('FT-112 map: gross int32 at wire 4, status at 6 with the decimal bit, read by modbus-serial', async () => {
  sim.place('P1', 'CYL1');
  const c = await client('P1.scale');
  const regs = await eventually(async () => {
    const r = (await c.readHoldingRegisters(0, 12)).data;
    const status = decodeValue(r.slice(6, 8), { type: 'uint32' });
    return (status & (1 << 2)) === 0 ? r : undefined; // wait until B2 "unstable" clears
  }, 8000, 'stable weight');
  const gross = decodeValue(regs.slice(4, 6), { type: 'int32', wordOrder: 'big' });
  assert.is(gross, 1710); // 17.10 kg with 2 decimals
  const status = decodeValue(regs.slice(6, 8), { type: 'uint32' });
  assert.ok(status & (1 << 29), 'B29 = X.XX');
  assert.is(status & (1 << 3), 0, 'gross mode');
  assert.is(decodeValue(regs.slice(8, 10), { type: 'uint32' }), 0, 'no error');
  assert.is(sim.state().posts[0]!.scale.grossKg, 17.1);
});

test('FT-112: heartbeat counts up, unknown register is exception 2, tare command switches to net', async () => {
  const c = await client('P1.scale');
  const hb1 = decodeValue((await c.readHoldingRegisters(10, 2)).data, { type: 'uint32' });
  await eventually(async () => decodeValue((await c.readHoldingRegisters(10, 2)).data, { type: 'uint32' }) > hb1, 3000, 'heartbeat');
  try {
    await c.readHoldingRegisters(30, 2);
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as { modbusCode?: number }).modbusCode, 2);
  }
  await c.writeRegister(24, 2); // tare
  const regs = (await c.readHoldingRegisters(0, 8)).data;
  assert.is(decodeValue(regs.slice(0, 2), { type: 'int32' }), 0, 'net = 0 after tare');
  assert.is(decodeValue(regs.slice(2, 4), { type: 'int32' }), 1710, 'tare register');
  assert.ok(decodeValue(regs.slice(6, 8), { type: 'uint32' }) & (1 << 3), 'B3 net mode');
  await c.writeRegister(24, 3); // clear
  assert.is(decodeValue((await c.readHoldingRegisters(0, 2)).data, { type: 'int32' }), 1710);
});

test('Rinstrum C500 map over RTU-on-TCP: input registers, FC3 refused', async () => {
  sim.place('P2', 'CYL2');
  sim.toCheck('P2');
  const c = await client('check.scale', 'rtu-tcp');
  const regs = await eventually(async () => {
    const r = (await c.readInputRegisters(1, 8)).data;
    return (decodeValue(r.slice(6, 8), { type: 'uint32' }) & (1 << 2)) === 0 ? r : undefined;
  }, 8000, 'stable check scale');
  assert.is(decodeValue(regs.slice(0, 2), { type: 'int32' }), 1420); // 13.4 + 0.8 = 14.20 kg
  assert.ok(decodeValue(regs.slice(6, 8), { type: 'uint32' }) & (1 << 3), 'bit3 gross');
  try {
    await c.readHoldingRegisters(1, 2);
    assert.unreachable('holding registers do not exist');
  } catch (err) {
    assert.is((err as { modbusCode?: number }).modbusCode, 2);
  }
  sim.removeCheck();
});

test('relay module: coil ON opens the valve after its delay, feedback input follows the real valve, gas flows', async () => {
  const c = await client('P1.valve');
  assert.equal((await c.readDiscreteInputs(0, 1)).data[0], true, 'feedback: closed');
  const gas0 = sim.state().posts[0]!.cylinder!.gasKg;
  await c.writeCoil(0, true);
  assert.ok(sim.state().posts[0]!.valve.coil);
  await eventually(async () => (await c.readDiscreteInputs(0, 1)).data[0] === false, 3000, 'feedback open');
  assert.equal((await c.readCoils(0, 2)).data.slice(0, 2), [true, false]);
  await eventually(() => sim.state().posts[0]!.cylinder!.gasKg > gas0 + 0.05, 5000, 'gas flowing');
  await c.writeCoil(0, false);
  await eventually(async () => (await c.readDiscreteInputs(0, 1)).data[0] === true, 3000, 'feedback closed');
  const after = sim.state().posts[0]!.cylinder!.gasKg;
  await new Promise((r) => setTimeout(r, 150));
  assert.is(sim.state().posts[0]!.cylinder!.gasKg, after, 'no flow once closed');
});

test('relay module: buttons read as discrete inputs while pressed', async () => {
  const c = await client('P1.valve');
  assert.equal((await c.readDiscreteInputs(1, 2)).data.slice(0, 2), [false, false]);
  sim.press('P1', 'start', 400);
  assert.equal((await c.readDiscreteInputs(1, 2)).data.slice(0, 2), [true, false]);
  await eventually(async () => (await c.readDiscreteInputs(1, 1)).data[0] === false, 3000, 'release');
  assert.throws(() => sim.press('P2', 'start'), /no start input/);
});

test('comms watchdog switches every coil OFF when the master goes silent, and the valve closes', async () => {
  const c = await client('P1.valve');
  await c.writeCoils(0, [true, true]);
  assert.ok(sim.state().posts[1]!.valve.coil);
  const trips = sim.state().relays[0]!.watchdogTrips;
  // Keep talking for a while: no trip while requests arrive more often than 400 ms.
  for (let i = 0; i < 5; i++) {
    await c.readCoils(0, 2);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.is(sim.state().relays[0]!.watchdogTrips, trips);
  // Go silent.
  await eventually(() => sim.state().relays[0]!.watchdogTrips === trips + 1, 5000, 'watchdog trip');
  const s = sim.state();
  assert.equal(s.relays[0]!.coils.slice(0, 2), [false, false]);
  assert.is(s.posts[0]!.valve.coil, false);
  await eventually(() => !sim.state().posts[0]!.valve.open, 2000, 'valve closed');
});

test('an unknown unit on Modbus TCP answers exception 0x0B', async () => {
  const c = await client('P1.scale');
  c.setID(77);
  try {
    await c.readHoldingRegisters(0, 2);
    assert.unreachable();
  } catch (err) {
    assert.is((err as { modbusCode?: number }).modbusCode, 11);
  }
});

test('explicit map: float32 low word first with a motion bit, in holding registers', () => {
  const spec = modbusScaleSchema.parse({
    protocol: 'modbus',
    bus: 'x',
    unitId: 3,
    noiseKg: 0,
    registerMap: { weightAddress: 10, type: 'float32', wordOrder: 'little', statusAddress: 12, motionBit: 0, overloadBit: 1 },
  });
  let load = 20.5;
  const scale = new SimScale('X.scale', spec, () => load, new FaultBook(new Set(['X.scale'])), 1);
  const unit = new ModbusScaleUnit(3, scale, spec);
  const read = (t: number) => {
    const r = unit.handle({ fc: 3, address: 10, count: 3 }, t);
    return 'registers' in r ? r.registers : [];
  };
  const regs = read(10_000);
  assert.is(decodeValue(regs, { type: 'float32', wordOrder: 'little' }), 20.5);
  assert.is(regs[2], 0, 'still, no overload');
  load = 200;
  scale.disturb(10_100); // something heavy was put on the platform
  assert.is(read(10_100)[2], 0b11, 'moving and overloaded');
  assert.throws(() => unit.handle({ fc: 4, address: 10, count: 2 }, 10_200), /no input registers/);
});

test.run();
