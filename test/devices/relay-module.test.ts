/**
 * Valves sharing one relay module (devices/valve/relay-module.ts, issue 14
 * point 3) against the fake unit: feedback of every valve in one read,
 * supervision one read per period, keep-alive one FC15 per run of adjacent
 * coils (FC05 for a lone coil or a module without FC15), a keep-alive that a
 * valve's change overtook is rebuilt and never sent stale, a failed one faults
 * and closes the open valves.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit, eventually } from './fake-modbus-unit.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import { RelayModule } from '../../devices/valve/relay-module.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Valves on coils `coils`, feedback on discrete input = coil + 10 following the coil after 5 ms. */
function module(coils: number[], opts: { writeMultipleCoils?: boolean; keepAliveMs?: number; feedbackPollMs?: number } = {}) {
  const unit = new FakeModbusUnit();
  for (const c of coils) unit.discrete[c + 10] = true;
  unit.onWriteCoil = (address, value) => {
    setTimeout(() => (unit.discrete[address + 10] = !value), 5);
  };
  const mod = new RelayModule({ unit, writeMultipleCoils: opts.writeMultipleCoils ?? true });
  const valves = coils.map(
    (coil) =>
      new ModbusValveDriver({
        id: `V${coil}`,
        unit,
        coil,
        module: mod,
        feedback: { kind: 'discrete', address: coil + 10, closedWhen: true },
        confirmTimeoutMs: 200,
        feedbackPollMs: opts.feedbackPollMs ?? 40,
        ...(opts.keepAliveMs ? { keepAliveMs: opts.keepAliveMs } : {}),
        retryMs: 10,
      }),
  );
  const faults: string[] = [];
  for (const v of valves) v.faults.on((f) => faults.push(`${f.code} ${f.message}`));
  return { unit, mod, valves, faults, stop: () => Promise.all(valves.map((v) => v.stop())) };
}

test('supervision at rest: one FC02 over the span of all feedback inputs per period, not one per valve', async () => {
  const m = module([0, 1, 2, 3], { feedbackPollMs: 30 });
  await Promise.all(m.valves.map((v) => v.start()));
  const from = m.unit.calls.length;
  await sleep(200);
  const reads = m.unit.calls.slice(from).filter((c) => c.op === 'readDiscreteInputs');
  await m.stop();
  assert.ok(reads.length >= 3, `some supervision reads (${reads.length})`);
  assert.ok(reads.every((r) => r.address === 10 && r.count === 4), JSON.stringify(reads.slice(0, 3)));
  // 200 ms at 30 ms: about 6 periods, so about 6 reads in all (4 valves alone would make about 24).
  assert.ok(reads.length <= 9, `one read per period, got ${reads.length}`);
  assert.equal(m.faults, []);
});

test('opens confirm through the shared read; a valve whose feedback disagrees still faults and closes', async () => {
  const m = module([0, 1], { feedbackPollMs: 20 });
  await Promise.all(m.valves.map((v) => v.start()));
  await Promise.all(m.valves.map((v) => v.open()));
  assert.equal(m.valves.map((v) => v.state), ['open', 'open']);
  // Valve 1's limit switch says closed while it is commanded open.
  m.unit.onWriteCoil = undefined;
  m.unit.discrete[11] = true;
  await eventually(() => m.faults.some((f) => f.startsWith('VALVE_FEEDBACK V1')), 2000, 'feedback fault of V1');
  await eventually(() => m.unit.coils[1] === false, 2000, 'V1 closed');
  assert.is(m.valves[0]!.state, 'open', 'the other valve is not disturbed');
  assert.is(m.unit.coils[0], true);
  await m.stop();
});

test('keep-alive: one FC15 for adjacent coils at each valve’s commanded state; FC05 for a lone coil or without FC15', async () => {
  const m = module([0, 1, 2, 5], { keepAliveMs: 25, feedbackPollMs: 1000 });
  await Promise.all(m.valves.map((v) => v.start()));
  await m.valves[1]!.open();
  const from = m.unit.calls.length;
  await sleep(120);
  const calls = m.unit.calls.slice(from).filter((c) => c.op === 'writeCoils' || c.op === 'writeCoil');
  await m.stop();
  const multi = calls.filter((c) => c.op === 'writeCoils');
  const single = calls.filter((c) => c.op === 'writeCoil');
  assert.ok(multi.length >= 2, `FC15 keep-alives (${multi.length})`);
  assert.ok(multi.every((c) => c.address === 0 && JSON.stringify(c.value) === '[0,1,0]'), JSON.stringify(multi[0]));
  assert.ok(single.length >= 2 && single.every((c) => c.address === 5 && c.value === false), JSON.stringify(single));

  const plain = module([0, 1], { keepAliveMs: 25, writeMultipleCoils: false, feedbackPollMs: 1000 });
  await Promise.all(plain.valves.map((v) => v.start()));
  const from2 = plain.unit.calls.length;
  await sleep(80);
  const calls2 = plain.unit.calls.slice(from2);
  await plain.stop();
  assert.is(calls2.filter((c) => c.op === 'writeCoils').length, 0);
  assert.ok(calls2.filter((c) => c.op === 'writeCoil').length >= 4);
});

test('a keep-alive overtaken by a close is never sent with ON for that coil, and is rebuilt at once', async () => {
  const m = module([0, 1], { keepAliveMs: 1_000_000, feedbackPollMs: 1000 });
  await Promise.all(m.valves.map((v) => v.start()));
  await Promise.all(m.valves.map((v) => v.open()));
  // The module answers slowly: the keep-alive's snapshot is taken, then valve 0 closes before it is "sent".
  m.unit.delayMs = 0;
  const real = m.unit.writeCoils.bind(m.unit);
  let first = true;
  m.unit.writeCoils = (address, values, opts) => {
    if (first) {
      first = false;
      void m.valves[0]!.close('test');
    }
    return real(address, values, opts);
  };
  await m.mod.keepAliveAll();
  const sent = m.unit.calls.filter((c) => c.op === 'writeCoils');
  assert.ok(sent[0]!.dropped, 'the stale keep-alive was dropped unsent');
  const fresh = sent.filter((c) => !c.dropped);
  assert.is(fresh.length, 1, 'rebuilt once');
  assert.equal(fresh[0]!.value, [0, 1], 'the rebuilt one carries valve 0 OFF');
  assert.is(m.mod.counts.keepAliveRebuilt, 1);
  await m.stop();
});

test('a failed module keep-alive faults every valve and closes the open ones', async () => {
  const m = module([0, 1], { keepAliveMs: 1_000_000, feedbackPollMs: 1000 });
  await Promise.all(m.valves.map((v) => v.start()));
  await m.valves[0]!.open();
  m.unit.failWhen = (c) => (c.op === 'writeCoils' ? new Error('module silent') : undefined);
  await m.mod.keepAliveAll();
  await eventually(() => m.unit.coils[0] === false, 2000, 'V0 closed');
  assert.ok(m.faults.some((f) => f.startsWith('VALVE_KEEPALIVE V0')));
  await eventually(() => m.valves[0]!.state === 'fault', 2000, 'V0 in fault');
  await m.stop();
});

test.run();
