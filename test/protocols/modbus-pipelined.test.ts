/**
 * maxInFlight on Modbus TCP (issue 14 point 3), on a real socket against the
 * simulator's Modbus slave: several requests on the wire at once, each reply
 * matched to its request by MBAP transaction id; an OFF queued behind a full
 * window takes the next free slot; stillWanted() at the socket is asked per
 * transaction (two in flight each keep their own). Asserted on the
 * simulator's wire log. Rules: protocols/modbus/README.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Simulator } from '../../sim/index.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { startWireSim, sleep, until } from './valve-wire-rig.ts';

let sim: Simulator;
const buses: ModbusBus[] = [];
test.before(async () => {
  sim = await startWireSim();
});
test.after(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  sim.clearFaults();
  await sim.close();
});

async function tcpBus(maxInFlight: number): Promise<ModbusBus> {
  const url = sim.deviceEndpoints()['T1.valve']!.url;
  const bus = new ModbusBus(url, { maxInFlight, timeoutMs: 1000, retries: 0, reconnect: { initialMs: 50, maxMs: 200 } });
  buses.push(bus);
  await bus.open();
  return bus;
}

const codeOf = (p: Promise<unknown>) => p.then(
  () => 'ok',
  (e: unknown) => (isFillgateError(e) ? e.code : String(e)),
);

test('4 in flight: every reply goes to its own request (by transaction id), and 4 were on the wire at once', async () => {
  sim.place('T1', 'E2000017A1B20001', { tareKg: 5.2, residualKg: 0.3 });
  const bus = await tcpBus(4);
  const a = bus.unit(1, { name: 'T1.scale' });
  const b = bus.unit(3, { name: 'T2.scale' });
  const relay = bus.unit(2, { name: 'relay' });
  // What each answers on its own, one at a time: its weight words (still platform, noise 0; the
  // words after them hold status and a counter that change by themselves).
  await sleep(100);
  const one = { a: await a.readHoldingRegisters(0, 6), b: await b.readHoldingRegisters(0, 6) };
  assert.not.equal(one.a, one.b, 'the two scales must answer differently for the test to mean anything');
  // Slow replies from the scales, so requests pile up on the wire.
  sim.setFault({ device: 'T1.scale', kind: 'late', ms: 30 });
  sim.setFault({ device: 'T2.scale', kind: 'late', ms: 10 });
  const from = sim.wire.lastSeq;
  const reads = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a.readHoldingRegisters(0, 6).then((v) => ['a', v] as const) : b.readHoldingRegisters(0, 6).then((v) => ['b', v] as const)));
  const coils = relay.readCoils(0, 2);
  const got = await Promise.all(reads);
  await coils;
  sim.clearFaults();
  for (const [who, v] of got) assert.equal(v, one[who], `a reply of unit ${who} went to the wrong request`);
  assert.is(bus.getLoad().inFlightMax, 4);
  // On the wire: at some point 4 requests had arrived whose replies had not left yet.
  let open = 0;
  let most = 0;
  for (const e of sim.wire.entries({ since: from, bus: 'mb' })) {
    if (e.kind === 'request') most = Math.max(most, ++open);
    if (e.kind === 'reply') open--;
  }
  assert.is(most, 4);
  sim.remove('T1');
});

test('an OFF queued behind a full window is the next request on the wire', async () => {
  const bus = await tcpBus(2);
  const slow = bus.unit(3, { name: 'T2.scale' });
  const relay = bus.unit(2, { name: 'relay' });
  sim.setFault({ device: 'T2.scale', kind: 'late', ms: 150 });
  const from = sim.wire.lastSeq;
  const polls = Array.from({ length: 6 }, () => slow.readHoldingRegisters(0, 2));
  await until(() => bus.getLoad().queued === 4, 2000, 'a full window and 4 queued');
  assert.is(await codeOf(relay.writeCoil(0, false)), 'ok');
  await Promise.all(polls);
  sim.clearFaults();
  const requests = sim.wire.entries({ since: from, bus: 'mb' }).filter((e) => e.kind === 'request');
  const order = requests.map((e) => (e.fc === 5 ? 'OFF' : `FC${e.fc}`));
  assert.equal(order, ['FC3', 'FC3', 'OFF', 'FC3', 'FC3', 'FC3', 'FC3']);
});

test('stillWanted at the socket is asked per transaction: a write that became unwanted is dropped, the one beside it is sent', async () => {
  const bus = await tcpBus(4);
  const relay = bus.unit(2, { name: 'relay' });
  await relay.writeCoils(0, [false, false]);
  const from = sim.wire.lastSeq;
  let wantB = true;
  // Both are picked in one synchronous run and written by modbus-serial a microtask later; B's open is
  // overtaken in between (its onSend runs right before its frame is handed to the client).
  const a = codeOf(relay.writeCoil(0, true, { stillWanted: () => true }));
  const b = codeOf(relay.writeCoil(1, true, { stillWanted: () => wantB, onSend: () => (wantB = false) }));
  assert.equal(await Promise.all([a, b]), ['ok', 'SUPERSEDED']);
  const writes = sim.wire.entries({ since: from, bus: 'mb' }).filter((e) => e.kind === 'request' && e.fc === 5);
  assert.equal(writes.map((e) => [e.address, e.value]), [[0, true]]);
  await relay.writeCoils(0, [false, false]);
});

test('an OFF drops a queued FC15 that would set its coil ON, and the FC15 is never sent', async () => {
  const bus = await tcpBus(1);
  const slow = bus.unit(3, { name: 'T2.scale' });
  const relay = bus.unit(2, { name: 'relay' });
  sim.setFault({ device: 'T2.scale', kind: 'late', ms: 80 });
  const from = sim.wire.lastSeq;
  const poll = codeOf(slow.readHoldingRegisters(0, 2));
  const keepAlive = codeOf(relay.writeCoils(0, [true, false]));
  const off = codeOf(relay.writeCoil(0, false));
  assert.equal(await Promise.all([keepAlive, off, poll]), ['SUPERSEDED', 'ok', 'ok']);
  sim.clearFaults();
  const relayRequests = sim.wire.entries({ since: from, bus: 'mb', unitId: 2 }).filter((e) => e.kind === 'request');
  assert.equal(relayRequests.map((e) => e.fc), [5]);
});

test('maxInFlight > 1 is refused on RTU (no transaction id) and outside 1..16', () => {
  assert.throws(() => new ModbusBus('modbus-rtu-tcp://127.0.0.1:1', { maxInFlight: 2 }), /needs Modbus TCP/);
  assert.throws(() => new ModbusBus('modbus-tcp://127.0.0.1:1', { maxInFlight: 0 }), /1\.\.16/);
  assert.ok(new ModbusBus('modbus-rtu-tcp://127.0.0.1:1', { maxInFlight: 1 }));
});

test.run();
