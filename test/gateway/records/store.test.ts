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

test('a full store refuses new records (STORE_FULL) and keeps every old one; nearFull locks the station first', () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys, { config: { limitBytes: 400_000, nearFullRatio: 0.5 } });
  let i = 0;
  while (!store.storeHealth().nearFull) store.append(makeAttempt(i++));
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_STORE']);
  let refused: unknown;
  for (let k = 0; k < 10_000 && !refused; k++) {
    try {
      store.append(makeAttempt(i++, { outcome: 'refused', refusals: [{ code: 'STATION_LOCKED_STORE' }] }));
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(isFillgateError(refused, 'STORE_FULL'), String(refused));
  const h = store.storeHealth();
  assert.ok(h.bytes >= h.limitBytes);
  assert.is(store.counts().total, i - 1, 'nothing old was dropped');
  assert.is(store.counts().firstSeq, 1);
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
