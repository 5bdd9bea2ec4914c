/**
 * "The event loop belongs to the posts": what runs every second (the upload lock) and on every
 * /status, /metrics or remote status request reads the record store on the posts' thread. It must
 * not read the whole table: at 15,000 records (63 MB) the old count took 84 ms and the oldest
 * record not uploaded walked every acknowledged record, both growing with the store's two years.
 * Here: the figures are right, and the query plans touch only indexes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../../protocols/clock.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { EventLog } from '../../../gateway/records/events.ts';
import type { Db } from '../../../gateway/records/db.ts';
import { makeAttempt, makeKeys, tempDir } from './fixtures.ts';

function setup(n: number) {
  const { dir, cleanup } = tempDir();
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  const store = new RecordStore({ db: `${dir}/records.db`, clock, station: 'ST01', privateKey: keys.privateKey });
  const log = new EventLog({ db: store.db, clock, station: 'ST01', privateKey: keys.privateKey, utcOffsetMinutes: 480 });
  for (let i = 1; i <= n; i++) {
    store.append(makeAttempt(i));
    log.append({ kind: 'latch.set', subject: 'leak', by: 'test', reason: 'LEAK_ALARM', id: `e${i}` });
    clock.advance(1000);
  }
  return { store, log, cleanup };
}

/** Every statement prepared while `fn` runs, with its query plan. */
function plansOf(db: Db, fn: () => void): { sql: string; plan: string[] }[] {
  const seen: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => (seen.push(sql), prepare(sql))) as typeof db.prepare;
  try {
    fn();
  } finally {
    db.prepare = prepare;
  }
  return seen.map((sql) => ({ sql, plan: (prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail) }));
}

const brute = (db: Db, table: string) =>
  db.prepare(`SELECT COUNT(*) AS total, SUM(status = 0) AS pending, SUM(status = 1) AS acked, SUM(status = 2) AS rejected, SUM(status = 3) AS settled FROM ${table}`).get() as Record<string, number>;

test('counts and the oldest record not uploaded are right: acknowledged, waiting, rejected, settled, after a prune', () => {
  const s = setup(40);
  // 1-30 acknowledged, 31 and 35 rejected (35 then settled by a supervisor), the rest waiting.
  s.store.applyAcks([...Array(30).keys()].map((i) => i + 1), [
    { seq: 31, reason: 'BAD_DATA' },
    { seq: 35, reason: 'BAD_DATA' },
  ]);
  s.store.settleRejected(35, 'B1009', 'corrected on the platform');
  s.log.applyAcks([1, 2, 3], [{ seq: 4, reason: 'x' }]);
  const b = brute(s.store.db, 'records');
  assert.equal(s.store.counts(), { total: b.total, pending: b.pending, acked: b.acked, rejected: b.rejected, settled: b.settled, firstSeq: 1, lastSeq: 40 });
  assert.equal([b.total, b.pending, b.acked, b.rejected, b.settled], [40, 8, 30, 1, 1]);
  assert.is(s.store.oldestNotUploaded()?.seq, 31, 'the rejected record is the oldest not uploaded');
  assert.is(s.store.rejectedCount(), 1);
  const e = brute(s.store.db, 'events');
  assert.equal(s.log.counts(), { total: e.total, pending: e.pending, acked: e.acked, rejected: e.rejected, lastSeq: 40 });
  // Resent, the rejected record waits again: the oldest not uploaded is the first waiting one.
  s.store.resendRejected([31]);
  assert.is(s.store.oldestNotUploaded()?.seq, 31);
  s.store.applyAcks([31], []);
  assert.is(s.store.oldestNotUploaded()?.seq, 32);
  // Pruned (a prefix of acknowledged records): the total follows the seq range that is left.
  s.store.db.prepare('DELETE FROM records WHERE seq <= 10').run();
  const after = brute(s.store.db, 'records');
  assert.equal([s.store.counts().total, s.store.counts().acked, s.store.counts().firstSeq], [after.total, after.acked, 11]);
  s.store.applyAcks([...Array(40).keys()].map((i) => i + 1), []);
  assert.is(s.store.oldestNotUploaded(), undefined, 'all uploaded');
  s.store.close();
  s.cleanup();
});

test('what runs every second and on every status request reads indexes only, never a scan of the records or events table', () => {
  const s = setup(5);
  const plans = [
    ...plansOf(s.store.db, () => s.store.counts()),
    ...plansOf(s.store.db, () => s.store.oldestNotUploaded()),
    ...plansOf(s.store.db, () => s.store.rejectedCount()),
    ...plansOf(s.store.db, () => s.log.counts()),
  ];
  assert.ok(plans.length >= 4, 'the statements were seen');
  for (const { sql, plan } of plans) {
    const scans = plan.filter((d) => /^SCAN (records|events)$/.test(d.trim()));
    assert.equal(scans, [], `${sql.replace(/\s+/g, ' ')}\n  plan: ${plan.join(' | ')}`);
  }
  s.store.close();
  s.cleanup();
});

test.run();
