/** The bus queue's ordering rules (protocols/modbus/queue.ts, README.md "Order on the bus"), as tables. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFillgateError } from '../../protocols/errors.ts';
import { BusQueue, type Job } from '../../protocols/modbus/queue.ts';
import type { BusUnit } from '../../protocols/modbus/unit.ts';

const unitA = { unitId: 2, busUrl: 'modbus-tcp://x' } as BusUnit;
const unitB = { unitId: 3, busUrl: 'modbus-tcp://x' } as BusUnit;

interface Probe extends Job {
  name: string;
  settled?: string;
}

function job(name: string, unit: BusUnit, kind: 'poll' | 'on' | 'off', address = 0): Probe {
  const j: Probe = {
    name,
    unit,
    request: {
      describe: name,
      op: () => Promise.resolve(undefined),
      ...(kind === 'poll' ? {} : { coil: { address, on: kind === 'on' }, urgent: kind === 'off' }),
    },
    resolve: (v) => (j.settled = `ok:${String(v)}`),
    reject: (e) => (j.settled = isFillgateError(e) ? e.code : String(e)),
  };
  return j;
}

const order = (q: BusQueue) => {
  const out: string[] = [];
  for (let j = q.next(); j; j = q.next()) out.push((j as Probe).name);
  return out;
};

test('an OFF goes behind earlier OFFs and ahead of polls and ONs', () => {
  const q = new BusQueue();
  for (const j of [job('p1', unitB, 'poll'), job('on1', unitA, 'on', 1), job('off0', unitA, 'off', 0), job('p2', unitB, 'poll'), job('offB', unitB, 'off', 0)]) q.add(j);
  assert.equal(order(q), ['off0', 'offB', 'p1', 'on1', 'p2']);
});

test('an OFF drops queued ONs to its coil (SUPERSEDED), not to another coil or unit', () => {
  const q = new BusQueue();
  const on = job('on', unitA, 'on', 0);
  const keepAlive = job('keep-alive', unitA, 'on', 0);
  const otherCoil = job('on-coil1', unitA, 'on', 1);
  const otherUnit = job('on-unitB', unitB, 'on', 0);
  for (const j of [on, otherCoil, keepAlive, otherUnit]) q.add(j);
  q.add(job('off', unitA, 'off', 0));
  assert.is(on.settled, 'SUPERSEDED');
  assert.is(keepAlive.settled, 'SUPERSEDED');
  assert.is(otherCoil.settled, undefined);
  assert.equal(order(q), ['off', 'on-coil1', 'on-unitB']);
});

test('a second OFF to a coil shares the queued one; the ON on the wire gets no retry, an OFF on the wire does', () => {
  const q = new BusQueue();
  const first = job('off1', unitA, 'off', 0);
  const second = job('off2', unitA, 'off', 0);
  q.add(first);
  q.add(second);
  const taken = q.next()!;
  assert.is(q.length, 0);
  taken.resolve('done');
  assert.equal([first.settled, second.settled], ['ok:done', 'ok:done']);
  const onWire = job('on', unitA, 'on', 0);
  q.inFlight.add(onWire);
  q.add(job('off3', unitA, 'off', 0));
  assert.ok(onWire.superseded, 'the ON on the wire is not retried');
  const offWire = job('off4', unitA, 'off', 1);
  q.inFlight.clear();
  q.inFlight.add(offWire);
  q.add(job('off5', unitA, 'off', 1));
  assert.not.ok(offWire.superseded, 'an OFF on the wire keeps its retries');
});

test('a retry goes behind every urgent job and ahead of the jobs queued after it', () => {
  const q = new BusQueue();
  q.add(job('p2', unitB, 'poll'));
  q.add(job('off', unitA, 'off', 0));
  q.retry(job('p1-retry', unitB, 'poll'));
  q.retry(job('off-retry', unitB, 'off', 4));
  assert.equal(order(q), ['off', 'off-retry', 'p1-retry', 'p2']);
});

function multi(name: string, unit: BusUnit, address: number, values: boolean[]): Probe {
  const j = job(name, unit, 'poll');
  j.request = { ...j.request, coils: { address, values }, urgent: values.every((v) => !v) };
  return j;
}

test('FC15: an OFF drops a queued write-multiple that sets its coil ON, not one that sets it OFF; all-OFF is urgent', () => {
  const q = new BusQueue();
  const keepAlive = multi('fc15-on0', unitA, 0, [true, false, true]);
  const other = multi('fc15-off0', unitA, 0, [false, true]);
  const otherUnit = multi('fc15-unitB', unitB, 0, [true]);
  for (const j of [keepAlive, other, otherUnit]) q.add(j);
  q.add(multi('all-off', unitB, 4, [false, false]));
  q.add(job('off0', unitA, 'off', 0));
  assert.is(keepAlive.settled, 'SUPERSEDED');
  assert.is(other.settled, undefined);
  assert.equal(order(q), ['all-off', 'off0', 'fc15-off0', 'fc15-unitB']);
  const onWire = multi('fc15-wire', unitA, 0, [false, true]);
  q.inFlight.add(onWire);
  q.add(job('off1', unitA, 'off', 1));
  assert.ok(onWire.superseded, 'an FC15 carrying ON for the coil, on the wire, is not retried');
});

test.run();
