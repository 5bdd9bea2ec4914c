import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import Database from '../../../gateway/sqlite.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { isFillgateError } from '../../../protocols/errors.ts';
import { keysInit, loadPrivateKey } from '../../../gateway/records/keys.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { recordFillLocks } from '../../../gateway/sync/timeliness.ts';
import { makeAttempt, makeKeys, makeStore, tempDir } from './fixtures.ts';

test('every attempt, refused ones included, becomes one record with seq and prevHash', () => {
  const { store } = makeStore(makeKeys());
  const seen: number[] = [];
  store.appended.on((r) => seen.push(r.seq));
  const a = store.append(makeAttempt(1));
  const b = store.append({ attemptId: 'ref-1', station: 'ST01', unit: 'U', post: 'P1', outcome: 'refused', trips: [], refusals: [{ code: 'UNKNOWN_CODE' }] });
  assert.is(a.seq, 1);
  assert.is(b.seq, 2);
  assert.is(b.outcome, 'refused');
  assert.equal(b.refusals, [{ code: 'UNKNOWN_CODE' }]);
  assert.equal(seen, [1, 2]);
  assert.equal(store.counts(), { total: 2, pending: 2, acked: 0, rejected: 0, firstSeq: 1, lastSeq: 2 });
  store.close();
});

test('appending the same attemptId again returns the stored record, no second record', () => {
  const { store } = makeStore(makeKeys());
  const a = store.append(makeAttempt(1));
  const again = store.append(makeAttempt(1, { netFilledKg: 1 }));
  assert.equal(again, a);
  assert.is(store.counts().total, 1);
  assert.is(store.stats.duplicateAppends, 1);
  store.close();
});

test('an attempt for another station or with a bad required field is refused and counted', () => {
  const { store } = makeStore(makeKeys());
  assert.throws(() => store.append(makeAttempt(1, { station: 'OTHER' })), /station OTHER/);
  assert.throws(() => store.append(makeAttempt(2, { post: '' })), /post/);
  assert.is(store.stats.badInput, 2);
  assert.is(store.counts().total, 0);
  store.close();
});

test('records are append-only: editing signed columns or deleting unacknowledged records is refused by the database', () => {
  const { store } = makeStore(makeKeys());
  store.append(makeAttempt(1));
  assert.throws(() => store.db.prepare("UPDATE records SET body = '{}' WHERE seq = 1").run(), /append-only/);
  assert.throws(() => store.db.prepare('DELETE FROM records WHERE seq = 1').run(), /unacknowledged/);
  store.db.prepare('UPDATE records SET status = 1 WHERE seq = 1').run(); // the upload status may change
  store.close();
});

test('a PC clock jump is written into the next record; order stays by seq', () => {
  const { store, clock } = makeStore(makeKeys());
  store.append(makeAttempt(1));
  clock.advance(1000);
  assert.is(store.append(makeAttempt(2)).clockJumpMs, undefined);
  clock.epoch -= 3_600_000; // someone sets the PC clock back an hour
  clock.advance(1000);
  const r3 = store.append(makeAttempt(3));
  assert.is(r3.clockJumpMs, -3_600_000);
  assert.is(r3.seq, 3);
  assert.ok(r3.recordedAt < '2026-01-01T08:00:00', 'the wall time label went back; seq did not');
  clock.advance(1000);
  assert.is(store.append(makeAttempt(4)).clockJumpMs, undefined, 'only the record after the jump carries it');
  store.close();
});

test('a clock set backwards across a restart is recorded too', () => {
  const keys = makeKeys();
  const { dir, cleanup } = tempDir();
  const c1 = new ManualClock(5000);
  const s1 = new RecordStore({ db: `${dir}/r.db`, clock: c1, station: 'ST01', privateKey: keys.privateKey });
  s1.append(makeAttempt(1));
  s1.close();
  const c2 = new ManualClock(10, c1.wall() - 600_000); // new run, wall 10 min earlier
  const s2 = new RecordStore({ db: `${dir}/r.db`, clock: c2, station: 'ST01', privateKey: keys.privateKey });
  const r = s2.append(makeAttempt(2));
  assert.is(r.seq, 2);
  assert.ok(r.clockJumpMs !== undefined && r.clockJumpMs <= -599_000, String(r.clockJumpMs));
  s2.close();
  cleanup();
});

test('a full store: new fills stop at the reserve (lock, then STORE_FULL on the opening journal); refusals are still recorded; nothing old is dropped', () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys, { config: { limitBytes: 400_000, nearFullRatio: 0.5, utcOffsetMinutes: 480 } });
  let i = 0;
  while (!store.storeHealth().nearFull) store.append(makeAttempt(i++));
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_STORE']);
  // Past the whole limit: every refusal is still committed (issue 13 point 4: a refusal is always recorded).
  while (store.storeHealth().bytes < 400_000) store.append(makeAttempt(i++, { outcome: 'refused', refusals: [{ code: 'STATION_LOCKED_STORE' }] }));
  const refusal = store.append(makeAttempt(i++, { outcome: 'refused', refusals: [{ code: 'STATION_LOCKED_STORE' }] }));
  assert.is(refusal.outcome, 'refused');
  // A new fill cannot start in the reserve: its opening journal write is refused, so the valve stays closed.
  let refused: unknown;
  try {
    store.markInProgress('P1', makeAttempt(i, { outcome: 'interrupted' }), { stage: 'open', opens: true });
  } catch (err) {
    refused = err;
  }
  assert.ok(isFillgateError(refused, 'STORE_FULL'), String(refused));
  assert.equal(store.journal(), [], 'nothing journalled for the fill that did not start');
  assert.is(store.counts().total, i, 'nothing old was dropped');
  assert.is(store.counts().firstSeq, 1);
  store.close();
});

test('the reserve is configurable: reserveBytes moves where new fills stop', () => {
  const keys = makeKeys();
  const { store } = makeStore(keys, { config: { limitBytes: 1_000_000, nearFullRatio: 0.99, reserveBytes: 600_000, utcOffsetMinutes: 480 } });
  assert.is(store.storeHealth().fillLimitBytes, 400_000);
  let i = 0;
  while (store.storeHealth().bytes < 400_000) store.append(makeAttempt(i++));
  assert.ok(store.storeHealth().nearFull, 'locked at limitBytes − reserveBytes, long before nearFullRatio');
  assert.throws(() => store.markInProgress('P1', makeAttempt(i), { opens: true }), /full for new fills/);
  assert.ok(store.markInProgress('P1', makeAttempt(i)), 'a journal at the scan still goes in: its record may be a refusal');
  store.close();
});

test('start with a full store and a pending journal: the interrupted fill is recorded (recovery is not bound by the limit)', () => {
  const keys = makeKeys();
  const { dir, cleanup } = tempDir();
  const db = `${dir}/records.db`;
  const s1 = new RecordStore({ db, clock: new ManualClock(1000), station: 'ST01', privateKey: keys.privateKey, config: { utcOffsetMinutes: 480 } });
  for (let i = 0; i < 200; i++) s1.append(makeAttempt(i));
  s1.markInProgress('P2', makeAttempt(999, { post: 'P2', outcome: 'interrupted', checker: undefined, reweighedGrossKg: undefined }), { stage: 'cutOff' });
  const bytes = s1.storeHealth().bytes;
  s1.close();
  // Restart with a limit the store is already past.
  const s2 = new RecordStore({ db, clock: new ManualClock(10), station: 'ST01', privateKey: keys.privateKey, config: { limitBytes: Math.floor(bytes / 2), utcOffsetMinutes: 480 } });
  assert.ok(s2.storeHealth().nearFull);
  const written = s2.recoverInterrupted();
  assert.equal(written.map((r) => [r.id, r.outcome]), [['att-0000999', 'interrupted']]);
  assert.is(s2.counts().total, 201);
  s2.close();
  cleanup();
});

test("the journal follows the fill: the interrupted record has the last phase's masses, times and people, and one PROCESS_INTERRUPTED trip", () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  const base = makeAttempt(5, { post: 'P1', outcome: 'interrupted', checker: undefined, postFillCheck: undefined, reweighedGrossKg: undefined, reweighedNetKg: undefined, netFilledKg: undefined, durationMs: undefined });
  // The controller's journal at the open carried a PROCESS_INTERRUPTED trip of its own (older versions did).
  const atOpen = { ...base, trips: [{ code: 'PROCESS_INTERRUPTED' as const, at: '2026-01-01T08:00:00.000+08:00' }] };
  store.markInProgress('P1', { ...base, netFilledKg: undefined }, { stage: 'scan' });
  clock.advance(1000);
  store.markInProgress('P1', atOpen, { stage: 'open', opens: true });
  clock.advance(60_000);
  const checked = { ...atOpen, netFilledKg: 14.86, durationMs: 61_000, endedAt: '2026-01-01T08:01:01.000+08:00', checker: { badge: 'B002', name: '李四' }, reweighedGrossKg: 31.6, reweighedNetKg: 15.1 };
  store.markInProgress('P1', checked, { stage: 'checker' });
  const [r] = store.recoverInterrupted();
  assert.is(r.outcome, 'interrupted');
  assert.equal(r.trips.map((t) => t.code), ['PROCESS_INTERRUPTED'], 'exactly one');
  assert.match(r.trips[0].detail ?? '', /last journalled: checker at 2026-01-01T08:01:02/);
  assert.is(r.netFilledG, 14_860);
  assert.is(r.reweighedGrossG, 31_600);
  assert.is(r.durationMs, 61_000);
  assert.is(r.endedAt, '2026-01-01T08:01:01.000+08:00');
  assert.equal(r.checker, { badge: 'B002', name: '李四' });
  store.close();
});

test('recovery merges what the restart measured (the re-weigh) into the interrupted record', () => {
  const keys = makeKeys();
  const { store } = makeStore(keys);
  const a = makeAttempt(7, { outcome: 'interrupted', reweighedGrossKg: undefined, reweighedNetKg: undefined, mustDecant: undefined, toleranceState: undefined });
  store.markInProgress(a.post, a, { stage: 'open' });
  const [r] = store.recoverInterrupted({ [a.attemptId]: { fields: { reweighedGrossKg: 33, reweighedNetKg: 16.5, mustDecant: true, toleranceState: 'over' }, note: 're-weighed after the restart' } });
  assert.is(r.reweighedNetG, 16_500);
  assert.is(r.mustDecant, true);
  assert.match(r.trips[0].detail ?? '', /re-weighed after the restart/);
  store.close();
});

test("a journal write that comes after the attempt's record never brings it back", () => {
  const keys = makeKeys();
  const { store } = makeStore(keys);
  const a = makeAttempt(8);
  store.append(a);
  assert.is(store.markInProgress(a.post, { ...a, outcome: 'interrupted' }, { stage: 'checker' }), false);
  assert.equal(store.recoverInterrupted(), []);
  store.close();
});

test('in-progress journal: a fill cut short becomes an interrupted record on restart; a completed one clears it', () => {
  const keys = makeKeys();
  const { store } = makeStore(keys);
  const a = makeAttempt(1);
  store.markInProgress('P1', a);
  store.append(a); // completed: the journal entry for P1 is cleared in the same transaction
  store.markInProgress('P2', makeAttempt(2, { post: 'P2' }));
  store.markInProgress('P3', makeAttempt(3, { post: 'P3' }));
  store.clearInProgress('P3'); // aborted before anything happened: the controller records it itself
  const written = store.recoverInterrupted();
  assert.equal(written.map((r) => [r.id, r.outcome, r.post]), [['att-0000002', 'interrupted', 'P2']]);
  assert.equal(written[0].trips.map((t) => t.code), ['PROCESS_INTERRUPTED']);
  assert.equal(store.recoverInterrupted(), [], 'journal emptied');
  store.close();
});

test('a process killed with SIGKILL mid-fill: the restart writes the fill as interrupted', async () => {
  const { dir, cleanup } = tempDir();
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./helpers/fill-proc.ts', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('filling') && resolve());
    child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  keysInit(dir);
  const store = new RecordStore({ db: `${dir}/records.db`, clock: new ManualClock(), station: 'ST01', privateKey: loadPrivateKey(dir) });
  const written = store.recoverInterrupted();
  assert.is(written.length, 1);
  assert.is(written[0].outcome, 'interrupted');
  assert.is(written[0].post, 'P3');
  assert.is(written[0].netFilledG, 7500, 'what was known at the kill is kept');
  assert.is(written[0].seq, 2);
  store.close();
  cleanup();
});

test('prune deletes only acknowledged records older than retention, as a prefix, and the chain anchor is kept', () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys, { config: { retentionDays: 1 } });
  for (let i = 1; i <= 5; i++) store.append(makeAttempt(i));
  clock.advance(2 * 86_400_000);
  store.append(makeAttempt(6));
  store.applyAcks([1, 2, 4, 6], []);
  assert.is(store.prune(), 2, 'seq 3 is unacknowledged: 4 must wait behind it');
  assert.is(store.counts().firstSeq, 3);
  store.applyAcks([3, 5], []);
  assert.is(store.prune(), 3);
  assert.is(store.counts().firstSeq, 6, 'seq 6 is younger than retention');
  assert.is(store.append(makeAttempt(7)).seq, 7);
  store.close();
});

test('storeHealth reports bytes of a file store and free disk space', () => {
  const { dir, cleanup } = tempDir();
  const keys = makeKeys();
  const store = new RecordStore({ db: `${dir}/r.db`, clock: new ManualClock(), station: 'ST01', privateKey: keys.privateKey });
  store.append(makeAttempt(1));
  const h = store.storeHealth();
  assert.ok(h.bytes > 0);
  assert.ok((h.diskFreeBytes ?? 0) > 0);
  assert.is(h.nearFull, false);
  const mode = new Database(`${dir}/r.db`, { readonly: true });
  assert.is(mode.pragma('journal_mode', { simple: true }), 'wal');
  mode.close();
  store.close();
  cleanup();
});

test.run();
