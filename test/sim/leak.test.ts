/**
 * The simulated gas detector controller and emergency cut-off valve, read and written with
 * modbus-serial (a master we did not write) over Modbus TCP and RTU-over-TCP, driven from the
 * control API and the console, and recorded in the wire log.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSimulator, runCommand, validateStation, type Simulator } from '../../sim/index.ts';
import { closeClient, eventually, modbusClient, testStation, type ModbusClient } from './helpers.ts';

let sim: Simulator;

/** The Modbus exception code a read rejects with (undefined if it resolves). */
const exceptionOf = (p: Promise<unknown>) => p.then(() => undefined, (e: { modbusCode?: number; message?: string }) => e.modbusCode ?? e.message);
let tcp: ModbusClient;
let rtu: ModbusClient;

const station = () =>
  testStation({
    gasDetectors: [
      { id: 'GD1', bus: 'mb', unitId: 3, registerMap: 'igd-toc635', sensors: ['ld-P1', 'ld-P2'] },
      { id: 'GD2', bus: 'rtu', unitId: 7, sensors: ['ld-yard'] },
    ],
    cutoffValves: [{ id: 'cv-main', bus: 'mb', unitId: 2, coil: 6, feedbackInput: 6, closeDelayMs: 100 }],
  });

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${sim.controlUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

test.before(async () => {
  sim = await startSimulator(station(), { portsFromZero: true });
  tcp = await modbusClient(sim.endpoints()['GD1.detector']!);
  rtu = await modbusClient(sim.endpoints()['GD2.detector']!, 'rtu-tcp');
});
test.after(async () => {
  await closeClient(tcp);
  await closeClient(rtu);
  await sim.close();
});

test('IGD map over Modbus TCP: FC04 %LEL from −10 in tenths and status bits; set over HTTP; logged', async () => {
  tcp.setID(3);
  assert.equal((await tcp.readInputRegisters(0, 2)).data, [100, 100]);
  const since = sim.wire.lastSeq;
  const r = await call('POST', '/gas/ld-P2', { lel: 30 });
  assert.equal([r.status, r.json.sensor.lel, r.json.sensor.level], [200, 30, 1]);
  assert.equal((await tcp.readInputRegisters(0, 2)).data, [100, 400]);
  assert.equal((await tcp.readInputRegisters(3000, 2)).data, [0, 0b01]);
  await call('POST', '/gas/ld-P2', { lel: 55, fault: true });
  assert.equal((await tcp.readInputRegisters(3001, 1)).data, [0b1011]);
  assert.is(await exceptionOf(tcp.readHoldingRegisters(0, 1)), 1, 'FC03 is not this map\'s');
  assert.is(await exceptionOf(tcp.readInputRegisters(2, 1)), 2, 'no sensor 3');
  const gas = sim.wire.entries({ since, kind: 'gas' });
  assert.equal(gas.map((e) => [e.reason, e.value, e.on, e.count, e.devices]), [['ld-P2', 30, false, 1, ['GD1.detector']], ['ld-P2', 55, true, 2, ['GD1.detector']]]);
  assert.ok(sim.wire.entries({ since, kind: 'request', device: 'GD1.detector', fc: 4 }).length >= 4);
  assert.equal((await call('POST', '/gas/nope', { lel: 1 })).status, 404);
  assert.equal((await call('POST', '/gas/ld-P1', {})).status, 400);
});

test('generic map over RTU: FC03 %LEL × 10 and status at 100; the console sets gas; no-answer makes it silent', async () => {
  rtu.setID(7);
  assert.match(runCommand(sim, 'gas ld-yard lel=26'), /"level": 1/);
  assert.equal((await rtu.readHoldingRegisters(0, 1)).data, [260]);
  assert.equal((await rtu.readHoldingRegisters(100, 1)).data, [0b001]);
  runCommand(sim, 'gas ld-yard fault=1');
  assert.equal((await rtu.readHoldingRegisters(100, 1)).data, [0b101]);
  sim.setFault({ device: 'GD2.detector', kind: 'no-answer' });
  rtu.setTimeout(300);
  assert.ok(await exceptionOf(rtu.readHoldingRegisters(0, 1)), 'no reply while silent');
  assert.ok(sim.wire.entries({ kind: 'ignored', device: 'GD2.detector' }).length > 0);
  sim.clearFaults('GD2.detector');
  assert.equal((await rtu.readHoldingRegisters(0, 1)).data, [260]);
});

test('cut-off valve on the fill valves\' relay module: coil ON closes it and it stays closed; reopened by hand only with the coil OFF', async () => {
  tcp.setID(2);
  assert.equal((await tcp.readDiscreteInputs(6, 1)).data[0], false);
  const since = sim.wire.lastSeq;
  await tcp.writeCoil(6, true);
  await eventually(async () => (await tcp.readDiscreteInputs(6, 1)).data[0] === true, 2000, 'closed');
  await tcp.writeCoil(6, false);
  assert.equal((await tcp.readDiscreteInputs(6, 1)).data[0], true, 'latched closed with the coil OFF');
  assert.is(sim.state().posts[0]!.valve.coil, false, 'the fill valves did not move');
  const entries = sim.wire.entries({ since, kind: ['coil', 'cutoff'], device: 'cv-main.cutoff' });
  assert.equal(entries.map((e) => [e.kind, e.on, e.source]), [['coil', true, 'write'], ['cutoff', true, 'trip'], ['coil', false, 'write']]);
  await tcp.writeCoil(6, true);
  assert.is((await call('POST', '/cutoffs/cv-main/reopen')).status, 409);
  await tcp.writeCoil(6, false);
  assert.match(runCommand(sim, 'reopen cv-main'), /"closed": false/);
  assert.equal((await tcp.readDiscreteInputs(6, 1)).data[0], false);
  assert.equal(sim.state().leak.cutoffs, [{ id: 'cv-main', coil: false, closed: false }]);
});

test('station file: leak devices checked with their paths', () => {
  const bad = station();
  bad.gasDetectors = [{ id: 'GD1', bus: 'nope', unitId: 1, sensors: ['a'] }, { id: 'GD2', bus: 'mb', unitId: 1, sensors: ['a'] }];
  bad.cutoffValves = [{ id: 'cv', bus: 'mb', unitId: 2, coil: 0, feedbackInput: 9 }];
  const errors = validateStation(bad).join('\n');
  assert.match(errors, /gasDetectors\.0\.bus: unknown bus 'nope'/);
  assert.match(errors, /gasDetectors\.1\.unitId: unit 1 on bus mb already used by posts\.0\.scale/);
  assert.match(errors, /gasDetectors\.1\.sensors\.0: sensor id a already used/);
  assert.match(errors, /cutoffValves\.0\.coil: coil 0 of unit 2 already used by posts\.0\.valve\.coil/);
});

test.run();
