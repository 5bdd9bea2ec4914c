import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { ManualClock } from '../../protocols/clock.ts';

const dir = mkdtempSync(join(tmpdir(), 'fillgate-outbox-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('alarms jump the queue; otherwise first in, first out; a row leaves only on ack', () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock() });
  const r1 = box.enqueue({ topic: 'r', payload: '1', class: 'record' });
  const t1 = box.enqueue({ topic: 't', payload: '2', class: 'telemetry' });
  const r2 = box.enqueue({ topic: 'r', payload: '3', class: 'record' });
  const a1 = box.enqueue({ topic: 'a', payload: '4', class: 'alarm' });
  assert.equal(box.next(10).map((r) => r.id), [a1, r1, r2, t1]);
  assert.equal(box.next(2, new Set([a1])).map((r) => r.id), [r1, r2]);
  box.ack([a1, r1]);
  assert.equal(box.next(10).map((r) => r.id), [r2, t1]);
  assert.is(box.next(10)[0].payload.toString(), '3');
  db.close();
});

test('telemetry is capped: oldest dropped first and counted; records are never dropped', () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 10, clock: new ManualClock() });
  for (let i = 0; i < 25; i++) box.enqueue({ topic: 't', payload: String(i), class: 'telemetry' });
  for (let i = 0; i < 25; i++) box.enqueue({ topic: 'r', payload: String(i), class: 'record' });
  const b = box.backlog();
  assert.is(b.byClass.telemetry, 10);
  assert.is(b.byClass.record, 25);
  assert.is(b.telemetryDropped, 15);
  const tele = box.next(100).filter((r) => r.class === 'telemetry').map((r) => r.payload.toString());
  assert.equal(tele, ['15', '16', '17', '18', '19', '20', '21', '22', '23', '24']);
  db.close();
});

test('backlog reports count, bytes and the oldest age; the outbox survives a restart', () => {
  const file = join(dir, 'o.db');
  const clock = new ManualClock();
  let db = new Database(file);
  let box = new Outbox(db, { telemetryCap: 10, clock });
  box.enqueue({ topic: 'abc', payload: '12345', class: 'record' });
  clock.advance(60_000);
  box.enqueue({ topic: 'abc', payload: '12345', class: 'alarm', retain: true });
  clock.advance(1_000);
  assert.equal({ ...box.backlog(), byClass: undefined }, { count: 2, bytes: 16, oldestAgeMs: 61_000, byClass: undefined, telemetryDropped: 0 });
  db.close();
  db = new Database(file);
  box = new Outbox(db, { telemetryCap: 10, clock });
  const rows = box.next(10);
  assert.is(rows.length, 2);
  assert.is(rows[0].class, 'alarm');
  assert.is(rows[0].retain, true);
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(db.pragma('synchronous', { simple: true }), 2); // FULL
  db.close();
});

test('a failed write is a STORE_ERROR, not a silent drop', () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 10, clock: new ManualClock() });
  db.exec('DROP TABLE mqtt_outbox');
  assert.throws(() => box.enqueue({ topic: 'r', payload: 'x', class: 'record' }), (e: Error & { code?: string }) => e.code === 'STORE_ERROR');
  db.close();
});

/** A flush scheduler the test drives: the batch is written only when the test says so. */
function heldFlushes(): { schedule: (flush: () => void) => void; release: () => void; count: () => number } {
  const held: (() => void)[] = [];
  return { schedule: (f) => held.push(f), release: () => held.splice(0).forEach((f) => f()), count: () => held.length };
}

test('group commit: messages of one turn are invisible until their one commit, then all there, alarms first', async () => {
  const file = join(dir, 'group.db');
  const hold = heldFlushes();
  const db = new Database(file);
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock(), schedule: hold.schedule });
  const reader = new Database(file, { readonly: true });
  const onDisk = () => (reader.prepare('SELECT COUNT(*) AS n FROM mqtt_outbox').get() as { n: number }).n;
  const settled: number[] = [];
  const ids = [
    box.add({ topic: 'r', payload: '1', class: 'record' }),
    box.add({ topic: 't', payload: '2', class: 'telemetry' }),
    box.add({ topic: 'a', payload: '3', class: 'alarm' }),
  ].map((p, i) => p.then((id) => (settled.push(i), id)));
  assert.is(hold.count(), 1, 'one flush scheduled for the batch');
  assert.is(box.pending, 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(settled, [], 'no caller told "committed" before the commit');
  assert.is(onDisk(), 0, 'nothing on disk before the commit');
  assert.equal(box.next(10), [], 'a pending row cannot be sent');
  hold.release();
  const [r1, t1, a1] = await Promise.all(ids);
  assert.is(onDisk(), 3);
  assert.is(box.pending, 0);
  assert.is(box.committed(), undefined, 'nothing left to wait for once committed');
  assert.equal(box.next(10).map((r) => r.id), [a1, r1, t1]);
  reader.close();
  db.close();
});

test('group commit: a batch is written at once when maxBatch rows wait; the next one opens a new batch', async () => {
  const hold = heldFlushes();
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock(), schedule: hold.schedule, maxBatch: 4 });
  const first = Array.from({ length: 4 }, (_, i) => box.add({ topic: 'r', payload: String(i), class: 'record' }));
  assert.is(box.next(10).length, 4, 'the full batch was committed without waiting for the turn');
  const fifth = box.add({ topic: 'r', payload: '4', class: 'record' });
  assert.is(box.pending, 1);
  assert.is(box.next(10).length, 4);
  hold.release();
  assert.equal(await Promise.all(first), [1, 2, 3, 4]);
  assert.is(await fifth, 5);
  db.close();
});

test('group commit: a failed batch writes none of its rows and every caller hears STORE_ERROR', async () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock() });
  const a = box.add({ topic: 'r', payload: '1', class: 'record' });
  const b = box.add({ topic: 'a', payload: '2', class: 'alarm' });
  db.exec('DROP TABLE mqtt_outbox');
  for (const p of [a, b]) {
    const err = await p.then(() => undefined, (e: Error & { code?: string }) => e);
    assert.is(err?.code, 'STORE_ERROR');
  }
  db.close();
});

test('group commit: the row that fills a batch still hears that its commit failed (a PUBACK must not follow)', async () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock(), maxBatch: 2 });
  db.exec('DROP TABLE mqtt_outbox');
  const first = box.add({ topic: 'r', payload: '1', class: 'record' });
  const second = box.add({ topic: 'r', payload: '2', class: 'record' }); // fills the batch: written (and failed) at once
  assert.is(box.pending, 0);
  const barrier = box.committed();
  assert.ok(barrier, 'the failed batch is still the answer');
  for (const p of [first, second, barrier!]) assert.is(await p.then(() => 'ok', (e: { code?: string }) => e.code), 'STORE_ERROR');
  db.close();
});

test('group commit with the default schedule: written by the end of the turn', async () => {
  const db = new Database(':memory:');
  const box = new Outbox(db, { telemetryCap: 100, clock: new ManualClock() });
  const p = box.add({ topic: 'r', payload: '1', class: 'record' });
  assert.ok(box.committed());
  await new Promise((r) => setImmediate(r));
  assert.is(box.pending, 0);
  assert.is(await p, 1);
  assert.is(box.next(10).length, 1);
  db.close();
});

test.run();
