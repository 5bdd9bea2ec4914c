import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { WireLog } from '../../sim/wire/wire-log.ts';
import { closeClient, eventually, modbusClient, testStation, type ModbusClient } from './helpers.ts';
import { assertCoilSequence, assertNoOnAfter, coilWrites, fetchWireLog, watchdogClears } from '../fixtures/wire-log.ts';

let sim: Simulator;
const clients: ModbusClient[] = [];

test.before(async () => {
  sim = await startSimulator(testStation(), { portsFromZero: true });
});
test.after(async () => {
  for (const c of clients) await closeClient(c);
  await sim.close();
});

test('the ring keeps the newest entries, counts what fell out and keeps seq counting', () => {
  const log = new WireLog(3);
  for (let i = 0; i < 5; i++) log.add({ kind: 'request', unitId: i });
  assert.is(log.lastSeq, 5);
  assert.is(log.dropped, 2);
  assert.equal(log.entries().map((e) => e.unitId), [2, 3, 4]);
  assert.equal(log.entries({ since: 3 }).map((e) => e.seq), [4, 5]);
  assert.equal(log.entries({ unitId: 4 }).length, 1);
});

test('every coil write a Modbus master sends is logged in wire order with request and reply', async () => {
  const ref = sim.deviceEndpoints()['P1.valve']!;
  const c = await modbusClient(sim.endpoints()['P1.valve']!, 'tcp');
  clients.push(c);
  const from = sim.wire.lastSeq;
  await c.writeCoil(0, true);
  await c.readCoils(0, 1);
  await c.writeCoil(0, false);
  await c.writeCoil(0, false);
  const log = sim.wire.entries({ since: from, unitId: ref.unitId });
  const coil = { unitId: ref.unitId!, coil: 0 };
  assert.equal(coilWrites(log, coil).map((w) => w.on), [true, false, false]);
  assertCoilSequence(log, coil, [true, false]);
  assert.throws(() => assertCoilSequence(log, coil, [false]), /writes on the wire were \[ON, OFF\]/);
  const kinds = log.filter((e) => e.kind !== 'coil').map((e) => `${e.kind}:${e.fc}`);
  assert.equal(kinds, ['request:5', 'reply:5', 'request:1', 'reply:1', 'request:5', 'reply:5', 'request:5', 'reply:5']);
  // The device's own coil changes are logged too: ON, then OFF (the repeated OFF changes nothing).
  assert.equal(log.filter((e) => e.kind === 'coil').map((e) => e.on), [true, false]);
  const times = log.map((e) => e.t);
  assert.equal(times, [...times].sort((a, b) => a - b), 'monotonic');
  const onAt = coilWrites(log, coil)[0]!.t;
  assert.throws(() => assertNoOnAfter(log, coil, onAt - 1), /written ON/);
  assertNoOnAfter(log, coil, onAt);
});

test('the control API serves the log with filters, and a watchdog clear is logged as the module acting alone', async () => {
  const ref = sim.deviceEndpoints()['P1.valve']!;
  const c = await modbusClient(sim.endpoints()['P1.valve']!, 'tcp');
  clients.push(c);
  const from = sim.wire.lastSeq;
  await c.writeCoil(0, true);
  const wd = sim.state().relays.find((r) => r.unitId === ref.unitId)!.watchdogMs;
  const coil = { unitId: ref.unitId!, coil: 0 };
  assert.ok(wd !== undefined, 'the test station has a watchdog');
  await eventually(async () => watchdogClears(sim.wire.entries({ since: from }), coil).length > 0 || undefined, wd + 3000, 'watchdog clear');
  const remote = await fetchWireLog(sim.controlUrl, { since: from, kind: 'request,coil', unit: ref.unitId! });
  assert.ok(remote.lastSeq >= from);
  assert.ok(remote.entries.every((e) => (e.kind === 'request' || e.kind === 'coil') && e.unitId === ref.unitId));
  assert.equal(coilWrites(remote.entries, coil)[0]!.on, true);
});

test('with the watchdog off a coil stays as the master left it', async () => {
  const ref = sim.deviceEndpoints()['P1.valve']!;
  const relay = sim.state().relays.find((r) => r.unitId === ref.unitId)!;
  assert.ok(relay.watchdogMs !== undefined, 'the test station has a watchdog');
  const c = await modbusClient(sim.endpoints()['P1.valve']!, 'tcp');
  clients.push(c);
  await fetch(`${sim.controlUrl}/watchdog`, { method: 'POST', body: JSON.stringify({ enabled: false }) });
  const from = sim.wire.lastSeq;
  await c.writeCoil(0, true);
  await new Promise((r) => setTimeout(r, relay.watchdogMs! + 300));
  assert.is(watchdogClears(sim.wire.entries({ since: from }), { unitId: ref.unitId!, coil: 0 }).length, 0);
  assert.is(sim.state().relays.find((r) => r.unitId === ref.unitId)!.coils[0], true);
  await c.writeCoil(0, false);
  sim.setWatchdog(true);
});

test('stream scales and readers log the bytes they send', async () => {
  const from = sim.wire.lastSeq;
  await eventually(async () => sim.wire.entries({ since: from, kind: 'stream', device: 'P2.scale' }).length > 2 || undefined, 3000, 'stream frames');
  const e = sim.wire.entries({ since: from, kind: 'stream', device: 'P2.scale' })[0]!;
  assert.match(e.hex!, /^[0-9a-f]+$/);
});

test.run();
