import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, readFileSync } from 'node:fs';
import { createHash, sign } from 'node:crypto';
import Database from '../../../gateway/sqlite.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { canonicalJson } from '../../../gateway/records/canonical.ts';
import { keysInit, loadPrivateKey, toPublicKey } from '../../../gateway/records/keys.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { signedBytes, type FillRecordV1 } from '../../../gateway/records/record.ts';
import { verifyRecords, formatVerifyReport } from '../../../gateway/records/verify.ts';
import { exportRecords } from '../../../gateway/records/export.ts';
import { makeAttempt, makeKeys, tempDir } from './fixtures.ts';
import { keyFingerprint } from '../../../gateway/receiver/keys.ts';

function fileStore(n = 5) {
  const { dir, cleanup } = tempDir();
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1, 0, 0, 0));
  const store = new RecordStore({ db: `${dir}/records.db`, clock, station: 'ST01', privateKey: keys.privateKey, config: { utcOffsetMinutes: 480 } });
  for (let i = 1; i <= n; i++) {
    store.append(makeAttempt(i));
    clock.advance(3_600_000);
  }
  store.close();
  // The tamperer works with the sqlite3 tool: the append-only triggers are no obstacle to them.
  const tamper = (sql: string, ...args: unknown[]) => {
    const db = new Database(`${dir}/records.db`);
    db.exec('DROP TRIGGER IF EXISTS records_append_only; DROP TRIGGER IF EXISTS records_keep_unacked;');
    db.prepare(sql).run(...args);
    db.close();
  };
  const body = (seq: number) => {
    const db = new Database(`${dir}/records.db`, { readonly: true });
    const r = JSON.parse((db.prepare('SELECT body FROM records WHERE seq = ?').get(seq) as { body: string }).body) as FillRecordV1;
    db.close();
    return r;
  };
  return { dir, path: `${dir}/records.db`, keys, tamper, body, cleanup };
}

test('an intact store verifies', () => {
  const s = fileStore();
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.ok(r.ok, formatVerifyReport(r));
  assert.is(r.checked, 5);
  assert.match(formatVerifyReport(r), /^OK: 5 records verified \(seq 1\.\.5\)/);
  s.cleanup();
});

test('a record altered in the database is detected with a clear message', () => {
  const s = fileStore();
  const rec = s.body(3);
  s.tamper('UPDATE records SET body = ? WHERE seq = 3', canonicalJson({ ...rec, netFilledG: 12000 }));
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.not.ok(r.ok);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[3, 'altered']]);
  assert.match(r.problems[0].message, /record seq 3: content changed after it was committed .*signature no longer verifies/);
  s.cleanup();
});

test('an altered record whose stored hash was also rewritten is caught by the signature and the next link', () => {
  const s = fileStore();
  const rec = { ...s.body(2), netFilledG: 1 };
  s.tamper('UPDATE records SET body = ?, hash = ? WHERE seq = 2', canonicalJson(rec), sha(signedBytes(rec)));
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[2, 'signature'], [3, 'chain']]);
  assert.match(r.problems[1].message, /record seq 3: prevHash does not match record seq 2/);
  s.cleanup();
});

test('a record removed from the database is reported as a gap', () => {
  const s = fileStore();
  s.tamper('DELETE FROM records WHERE seq = 4');
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[4, 'gap']]);
  assert.match(r.problems[0].message, /record seq 4 is missing: removed from the store \(the chain jumps from 3 to 5\)/);
  s.cleanup();
});

test('the newest records removed (truncation) are invisible to the chain alone, but removing the first is a gap', () => {
  const s = fileStore();
  s.tamper('DELETE FROM records WHERE seq = 1');
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[1, 'gap']]);
  s.cleanup();
});

test('a forged signature (another key) is detected', () => {
  const s = fileStore();
  const forger = makeKeys();
  const rec = { ...s.body(5), cylinderCode: 'FORGED' };
  const forged = { ...rec, sig: sign(null, Buffer.from(signedBytes(rec)), forger.privateKey).toString('base64') };
  s.tamper('UPDATE records SET body = ?, hash = ? WHERE seq = 5', canonicalJson(forged), sha(signedBytes(rec)));
  const r = verifyRecords(s.path, s.keys.publicKeyPem);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[5, 'signature']]);
  assert.match(r.problems[0].message, /signature does not verify with the station key \(forged or signed with another key\)/);
  s.cleanup();
});

/** Records 1-3 signed by key A, then (a key rotation) records 4-6 by key B, then `after` more by `late`. */
function rotatedStore(late?: 'A' | 'B') {
  const { dir, cleanup } = tempDir();
  const a = makeKeys();
  const b = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1, 0, 0, 0));
  const run = (key: typeof a, from: number, to: number) => {
    const store = new RecordStore({ db: `${dir}/records.db`, clock, station: 'ST01', privateKey: key.privateKey, config: { utcOffsetMinutes: 480 } });
    for (let i = from; i <= to; i++) (store.append(makeAttempt(i)), clock.advance(60_000));
    store.close();
  };
  run(a, 1, 3);
  run(b, 4, 6);
  if (late) run(late === 'A' ? a : b, 7, 7);
  return { path: `${dir}/records.db`, a, b, cleanup };
}

test('after a key rotation the chain verifies with the current key and the retired one, and the report says which key signed which seqs', () => {
  const s = rotatedStore();
  const onlyNew = verifyRecords(s.path, s.b.publicKeyPem);
  assert.equal(onlyNew.problems.map((p) => [p.seq, p.kind]), [[1, 'signature'], [2, 'signature'], [3, 'signature']], 'the current key alone cannot verify what the old one signed');
  const r = verifyRecords(s.path, [s.b.publicKeyPem, s.a.publicKeyPem]);
  assert.ok(r.ok, formatVerifyReport(r));
  const fp = (pem: string) => keyFingerprint(pem);
  assert.equal(r.signers, [
    { fp: fp(s.a.publicKeyPem), firstSeq: 1, lastSeq: 3 },
    { fp: fp(s.b.publicKeyPem), firstSeq: 4, lastSeq: 6 },
  ]);
  assert.match(formatVerifyReport(r), new RegExp(`signed by key ${fp(s.a.publicKeyPem)} \\(seq 1\\.\\.3\\), then key ${fp(s.b.publicKeyPem)} \\(seq 4\\.\\.6\\)`));
  s.cleanup();
});

test('a retired key signing after the chain moved to the new key is flagged, though its signature is genuine', () => {
  const s = rotatedStore('A');
  const r = verifyRecords(s.path, [s.b.publicKeyPem, s.a.publicKeyPem]);
  assert.equal(r.problems.map((p) => [p.seq, p.kind]), [[7, 'signature']]);
  assert.match(r.problems[0].message, /record seq 7: signed by key \w+, which the chain had left for key \w+ \(a retired key signing after a rotation\)/);
  const fine = rotatedStore('B');
  assert.ok(verifyRecords(fine.path, [fine.b.publicKeyPem, fine.a.publicKeyPem]).ok);
  s.cleanup();
  fine.cleanup();
});

test('the commands name a missing database clearly', () => {
  assert.throws(() => verifyRecords('/nonexistent/records.db', makeKeys().publicKey), /no record database at \/nonexistent\/records\.db/);
  assert.throws(() => exportRecords('/nonexistent/records.db', { format: 'csv' }), /no record database/);
});

test('export: period filter, seq order, CSV with kg and JSON as signed', () => {
  const s = fileStore();
  const csv = exportRecords(s.path, { from: '2026-03-01T09:00:00+08:00', to: '2026-03-01T11:30:00+08:00', format: 'csv' });
  const lines = csv.trim().split('\r\n');
  assert.is(lines.length, 4, csv); // header + the records made at 09:00, 10:00 and 11:00 (+08:00)
  assert.match(lines[0], /^station,seq,id,recordedAt,unit,post,outcome,cylinderCode/);
  assert.match(lines[1], /^ST01,2,att-0000002,2026-03-01T09:00:00\.000\+08:00,/);
  assert.match(lines[1], /,14\.880,/);
  const json = JSON.parse(exportRecords(s.path, { format: 'json' })) as FillRecordV1[];
  assert.equal(json.map((r) => r.seq), [1, 2, 3, 4, 5]);
  assert.ok(json[0].sig.length > 80);
  assert.throws(() => exportRecords(s.path, { from: 'last tuesday', format: 'csv' }), /--from: "last tuesday" is not an ISO 8601/);
  s.cleanup();
});

test('CSV quotes commas and neutralises formula-like text from scanned codes', () => {
  const { dir, cleanup } = tempDir();
  const keys = makeKeys();
  const store = new RecordStore({ db: `${dir}/r.db`, clock: new ManualClock(), station: 'ST01', privateKey: keys.privateKey });
  store.append(makeAttempt(1, { cylinderCode: '=HYPERLINK("x")', model: 'a,b' }));
  const line = exportRecords(store.db, { format: 'csv' }).split('\r\n')[1];
  assert.ok(line.includes(`"'=HYPERLINK(""x"")"`), line);
  assert.ok(line.includes('"a,b"'), line);
  store.close();
  cleanup();
});

test('keysInit creates the pair once with a private file mode, then returns the same public key', () => {
  const { dir, cleanup } = tempDir();
  const first = keysInit(dir);
  assert.ok(first.created);
  assert.match(first.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
  assert.is(statSync(first.privateKeyPath).mode & 0o777, 0o600);
  const again = keysInit(dir);
  assert.not.ok(again.created);
  assert.is(again.publicKeyPem, first.publicKeyPem);
  assert.is(readFileSync(first.publicKeyPath, 'utf8'), first.publicKeyPem);
  assert.is(toPublicKey(loadPrivateKey(dir)).export({ type: 'spki', format: 'pem' }), first.publicKeyPem);
  assert.throws(() => loadPrivateKey(`${dir}/nowhere`), /run "fillgate keys init" first/);
  cleanup();
});

function sha(t: string): string {
  return createHash('sha256').update(t, 'utf8').digest('hex');
}

test.run();
