/**
 * The signed station event log (issue 10 point 6): a second chain with its own sequence,
 * signed with the station key, append-only, checked by the same verifier as the records,
 * valid against event.v1.schema.json; clock jumps become events.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { keysInit, loadPrivateKey } from '../../../gateway/records/keys.ts';
import Database from '../../../gateway/sqlite.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { EventLog } from '../../../gateway/records/events.ts';
import { eventSignedBytes } from '../../../gateway/records/event.ts';
import { verifyEvents, formatEventsReport } from '../../../gateway/records/events-verify.ts';
import { verifyRecords } from '../../../gateway/records/verify.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { sha256Hex, GENESIS_HASH } from '../../../gateway/records/canonical.ts';
import { verifyBytes } from '../../../gateway/records/record.ts';
import { validate } from './json-schema-lite.ts';
import { makeAttempt, makeKeys, tempDir } from './fixtures.ts';

const schema = JSON.parse(readFileSync(new URL('../../../gateway/records/event.v1.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

function setup() {
  const { dir, cleanup } = tempDir();
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  const path = `${dir}/records.db`;
  const store = new RecordStore({ db: path, clock, station: 'ST01', privateKey: keys.privateKey });
  const log = new EventLog({ db: store.db, clock, station: 'ST01', privateKey: keys.privateKey, utcOffsetMinutes: 480 });
  return { dir, path, keys, clock, store, log, cleanup };
}

test('events are signed, hash-chained in their own sequence next to the records, and match the schema', () => {
  const s = setup();
  s.store.append(makeAttempt(1));
  const a = s.log.append({ kind: 'latch.set', subject: 'leak', by: 'leak interlock', reason: 'LEAK_ALARM', data: { level: 2, lel: 31.5 } });
  s.store.append(makeAttempt(2));
  const b = s.log.append({ kind: 'remote.command', by: 'remote:reg1', data: { command: 'lock', status: 'ok' } });
  assert.is(a.seq, 1, 'the event chain has its own sequence');
  assert.is(b.seq, 2);
  assert.is(a.prevHash, GENESIS_HASH);
  assert.is(b.prevHash, sha256Hex(eventSignedBytes(a)));
  assert.ok(verifyBytes(eventSignedBytes(b), b.sig, s.keys.publicKey), 'signed with the station key');
  assert.is(a.data!.lel, '31.5', 'a float becomes a decimal string, never dropped');
  assert.is(a.recordedAt.endsWith('+08:00'), true);
  for (const e of [a, b]) assert.equal(validate(e, schema), [], e.kind);
  assert.ok(validate({ ...a, extra: 1 }, schema).length > 0);
  assert.ok(validate({ ...a, type: undefined }, schema).length > 0);
  assert.is(verifyEvents(s.store.db, s.keys.publicKey).ok, true);
  assert.is(verifyRecords(s.store.db, s.keys.publicKey).checked, 2, 'the record chain is unaffected');
  s.store.close();
  s.cleanup();
});

test('the same id appended twice is one event; a bad kind is refused', () => {
  const s = setup();
  const a = s.log.append({ kind: 'fill.unauthorised', post: 'P1', reason: 'UNAUTHORISED_FILL', id: 'unauth-P1-1' });
  const again = s.log.append({ kind: 'fill.unauthorised', post: 'P1', reason: 'UNAUTHORISED_FILL', id: 'unauth-P1-1' });
  assert.is(again.seq, a.seq);
  assert.is(s.log.counts().total, 1);
  assert.throws(() => s.log.append({ kind: 'Bad Kind' }), /kind/);
  s.store.close();
  s.cleanup();
});

test('events are append-only in the database, and verify names an altered, removed or forged event', () => {
  const s = setup();
  for (let i = 0; i < 5; i++) s.log.append({ kind: 'alarm.raised', subject: `ld-${i}`, data: { level: 1 } });
  assert.throws(() => s.store.db.prepare("UPDATE events SET body = '{}' WHERE seq = 2").run(), /append-only/);
  assert.throws(() => s.store.db.prepare('DELETE FROM events WHERE seq = 2').run(), /cannot be deleted/);
  s.store.close();
  const db = new Database(s.path);
  db.exec('DROP TRIGGER events_append_only; DROP TRIGGER events_keep_unacked;');
  const body2 = JSON.parse((db.prepare('SELECT body FROM events WHERE seq = 2').get() as { body: string }).body);
  db.prepare('UPDATE events SET body = ? WHERE seq = 2').run(JSON.stringify({ ...body2, kind: 'alarm.cleared' }));
  db.prepare('DELETE FROM events WHERE seq = 4').run();
  db.close();
  const r = verifyEvents(s.path, s.keys.publicKey);
  assert.is(r.ok, false);
  const kinds = r.problems.map((p) => `${p.kind}@${p.seq}`);
  assert.ok(kinds.includes('altered@2'), kinds.join(' '));
  assert.ok(kinds.includes('gap@4'), kinds.join(' '));
  assert.match(formatEventsReport(r), /event seq 4 is missing/);
  const other = makeKeys();
  const forged = verifyEvents(s.path, other.publicKey);
  assert.ok(forged.problems.some((p) => p.kind === 'signature'), 'another key does not verify');
  s.cleanup();
});

test('a PC clock jump is recorded as a signed clock.jump event, within a run and backwards across a restart', () => {
  const s = setup();
  assert.is(s.log.checkClock(), undefined, 'first check: nothing to compare');
  s.log.append({ kind: 'station.started' });
  s.clock.advance(1000);
  assert.is(s.log.checkClock(), undefined, 'time passing is not a jump');
  s.clock.epoch += 3_600_000; // the PC clock set an hour forward
  const j = s.log.checkClock();
  assert.ok(j, 'jump recorded');
  assert.is(j!.kind, 'clock.jump');
  assert.is(j!.data!.jumpMs, 3_600_000);
  // A new run (fresh log) with the clock set back below the last event.
  s.clock.epoch -= 7_200_000;
  const log2 = new EventLog({ db: s.store.db, clock: s.clock, station: 'ST01', privateKey: s.keys.privateKey });
  const back = log2.checkClock();
  assert.ok(back && (back.data!.jumpMs as number) < 0, JSON.stringify(back));
  assert.is(verifyEvents(s.store.db, s.keys.publicKey).ok, true);
  s.store.close();
  s.cleanup();
});

test('pruning keeps unacknowledged and recent events, removes only an acknowledged prefix, and the chain still verifies', () => {
  const s = setup();
  for (let i = 0; i < 6; i++) {
    s.log.append({ kind: 'latch.set', subject: `post:P${i}` });
    s.clock.advance(86_400_000);
  }
  s.log.applyAcks([1, 2, 4, 5], []); // seq 3 never acknowledged
  s.clock.advance(800 * 86_400_000);
  assert.is(s.log.prune(730), 2, 'only seq 1-2: seq 3 is unacknowledged');
  assert.is(s.log.counts().total, 4);
  const next = s.log.append({ kind: 'latch.lift', subject: 'post:P0' });
  assert.is(next.seq, 7);
  const r = verifyEvents(s.store.db, s.keys.publicKey);
  assert.is(r.ok, true, formatEventsReport(r));
  assert.is(r.prunedThroughSeq, 2);
  s.store.close();
  s.cleanup();
});

test('fillgate records verify checks the event chain too: an altered event fails it', () => {
  const { dir, cleanup } = tempDir();
  const root = new URL('../../../', import.meta.url).pathname;
  const cfg = join(dir, 'gateway.yaml');
  writeFileSync(cfg, readFileSync(join(root, 'examples/gateway.yaml'), 'utf8').replace(/^dataDir: .*$/m, `dataDir: ${dir}`));
  keysInit(dir);
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  const store = new RecordStore({ db: join(dir, 'records.db'), clock, station: 'ST01', privateKey: loadPrivateKey(dir) });
  const log = new EventLog({ db: store.db, clock, station: 'ST01', privateKey: loadPrivateKey(dir) });
  store.append(makeAttempt(1));
  for (let i = 0; i < 3; i++) log.append({ kind: 'latch.set', subject: 'leak' });
  store.close();
  const run = () => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'records', 'verify', '--config', cfg], { encoding: 'utf8', cwd: root });
  const ok = run();
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /OK: 3 station events verified/);
  const db = new Database(join(dir, 'records.db'));
  db.exec('DROP TRIGGER events_append_only');
  db.prepare("UPDATE events SET body = replace(body, '\"leak\"', '\"store\"') WHERE seq = 2").run();
  db.close();
  const bad = run();
  assert.is(bad.status, 1, 'the altered event fails verify although every fill record is intact');
  assert.match(bad.stdout, /OK: 1 records verified/);
  assert.match(bad.stdout, /altered\s+event seq 2/);
  cleanup();
});

test.run();
