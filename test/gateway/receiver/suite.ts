/**
 * The receiver's behaviour, one suite run on each store (issue 11 point 3): receiver.test.ts
 * runs it on SQLite and on a real PostgreSQL (test/fixtures/postgres.ts). `freshDb()` gives
 * each test an empty database: a SQLite file or `:memory:`, or a new PostgreSQL database.
 */
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { sign } from 'node:crypto';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { makeHandover } from '../../../gateway/receiver/keys.ts';
import { signedBytes, type FillRecordV1 } from '../../../gateway/records/record.ts';
import { EventLog } from '../../../gateway/records/events.ts';
import type { StationEventV1 } from '../../../gateway/records/event.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { makeAttempt, makeKeys, makeStore, tempDir, type Keys } from '../records/fixtures.ts';

type Register = (name: string, fn: () => Promise<void>) => void;

export async function post(rx: RunningReceiver, records: unknown[], path = 'records'): Promise<{ id: string; status: string; reason?: string; message?: string; seq?: number; gap?: unknown; retryable?: boolean }[]> {
  const res = await fetch(`${rx.url}/v1/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [path]: records }) });
  assert.is(res.status, 200);
  return ((await res.json()) as { results: [] }).results;
}

export function chain(keys: Keys, n: number, clock = new ManualClock(0, Date.UTC(2026, 2, 1)), idBase = 0): FillRecordV1[] {
  const { store } = makeStore(keys, { clock });
  const out: FillRecordV1[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(store.append(makeAttempt(idBase + i)));
    clock.advance(60_000);
  }
  store.close();
  return out;
}

function eventChain(keys: Keys, n: number): StationEventV1[] {
  const log = new EventLog({ db: ':memory:', clock: new ManualClock(0, Date.UTC(2026, 2, 1)), station: 'ST01', privateKey: keys.privateKey });
  const out: StationEventV1[] = [];
  for (let i = 1; i <= n; i++) out.push(log.append({ kind: i % 2 ? 'alarm.raised' : 'alarm.cleared', subject: 'ld-P1', data: { level: 1 } }));
  log.close();
  return out;
}

/** Register the suite's tests on `test` (a uvu suite, or a skipping registrar); `freshDb` names an empty database. */
export function receiverSuite(test: Test, register: Register, freshDb: (persistent?: boolean) => Promise<string>): void {
  // Close every receiver after each test, also when an assertion failed midway (else the file hangs).
  const running: RunningReceiver[] = [];
  async function start(opts: Omit<Parameters<typeof startReceiver>[0], 'dbPath'> & { dbPath?: string }): Promise<RunningReceiver> {
    const rx = await startReceiver({ ...opts, dbPath: opts.dbPath ?? (await freshDb()) });
    running.push(rx);
    return rx;
  }
  test.after.each(async () => {
    for (const rx of running.splice(0)) await rx.close().catch(() => {});
  });

  register('accepts a chain once; a resend is answered duplicate; stored exactly once', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 5);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    assert.equal((await post(rx, recs.slice(0, 3))).map((r) => r.status), ['accepted', 'accepted', 'accepted']);
    assert.equal((await post(rx, recs)).map((r) => r.status), ['duplicate', 'duplicate', 'duplicate', 'accepted', 'accepted']);
    const rep = (await rx.store.report('ST01'));
    assert.is(rep.accepted, 5);
    assert.is(rep.lastSeq, 5);
    assert.equal(rep.gaps, []);
    assert.is(rep.lastRecordAt, recs[4].recordedAt);
  });
  
  register('forged and altered records are rejected with a reason; unknown station is retryable', async () => {
    const keys = makeKeys();
    const forger = makeKeys();
    const recs = chain(keys, 3);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    const altered = { ...recs[0], netFilledG: 1 };
    const forgedBody = { ...recs[0], cylinderCode: 'X' };
    const forged = { ...forgedBody, sig: sign(null, Buffer.from(signedBytes(forgedBody)), forger.privateKey).toString('base64') };
    const r = await post(rx, [altered, forged, { ...recs[0], station: 'NOPE' }, { hello: 1 }]);
    assert.equal(r.map((x) => [x.status, x.reason]), [['rejected', 'BAD_SIGNATURE'], ['rejected', 'BAD_SIGNATURE'], ['rejected', 'UNKNOWN_STATION'], ['rejected', 'BAD_FORMAT']]);
    assert.match(r[0].message ?? '', /forged or altered/);
    assert.is(r[2].retryable, true);
    assert.equal((await post(rx, recs)).map((x) => x.status), ['accepted', 'accepted', 'accepted'], 'the genuine ones still go in');
    assert.is((await rx.store.report('ST01')).rejected, 2);
  });
  
  register('a gap (records removed at the station) is reported; what verifies is stored; a late original fills the gap', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 6);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    const r = await post(rx, [recs[0], recs[1], recs[4], recs[5]]);
    assert.equal(r.map((x) => x.status), ['accepted', 'accepted', 'accepted', 'accepted']);
    assert.equal(r[2].gap, { from: 3, to: 4 });
    let rep = (await rx.store.report('ST01'));
    assert.equal(rep.gaps, [{ from: 3, to: 4 }]);
    assert.is(rep.missing, 2);
    assert.equal((await post(rx, [recs[2], recs[3]])).map((x) => x.status), ['accepted', 'accepted']);
    rep = (await rx.store.report('ST01'));
    assert.equal(rep.gaps, []);
  });
  
  register('a second chain (same seq, other content, validly signed) is a conflict, not a duplicate', async () => {
    const keys = makeKeys();
    const a = chain(keys, 2);
    const sameIds = chain(keys, 2, new ManualClock(5, Date.UTC(2026, 2, 2))); // same ids, other content
    const otherIds = chain(keys, 2, new ManualClock(5, Date.UTC(2026, 2, 2)), 1000); // same key and seqs, other ids: a forked chain
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    await post(rx, a);
    const r = await post(rx, [sameIds[1], otherIds[1]]);
    assert.equal(r.map((x) => [x.status, x.reason]), [['rejected', 'CONFLICT'], ['rejected', 'CONFLICT']]);
    assert.match(r[0].message ?? '', /already accepted \(seq 2\) with different content/);
    assert.match(r[1].message ?? '', /seq 2 already holds record att-0000002: a second chain/);
  });
  
  register('a batch whose seqs lie far apart (an old resend beside a new record) is judged like a contiguous one', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 1300);
    const fork = chain(keys, 1300, new ManualClock(7, Date.UTC(2026, 2, 2)), 5000);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    assert.equal((await post(rx, recs.slice(0, 3))).map((r) => r.status), ['accepted', 'accepted', 'accepted']);
    // PostgreSQL reads such a chunk seq by seq instead of as one range (pg-ingest.ts).
    const r = await post(rx, [recs[1], recs[1299], fork[1297], recs[4], recs[1297], fork[1298]]);
    assert.equal(r.map((x) => [x.status, x.reason]), [['duplicate', undefined], ['accepted', undefined], ['accepted', undefined], ['accepted', undefined], ['rejected', 'CONFLICT'], ['rejected', 'BROKEN_CHAIN']]);
    assert.equal([r[1].gap, r[2].gap, r[3].gap], [{ from: 4, to: 1299 }, { from: 4, to: 1297 }, { from: 4, to: 4 }]);
    const rep = await rx.store.report('ST01');
    assert.equal([rep.accepted, rep.gaps], [6, [{ from: 4, to: 4 }, { from: 6, to: 1297 }, { from: 1299, to: 1299 }]]);
  });

  register('late uploads are counted per station', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 2, new ManualClock(0, Date.now() - 3 * 3_600_000));
    const fresh = chain(keys, 3, new ManualClock(0, Date.now())).slice(2);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0, lateAfterMs: 3_600_000 });
    await post(rx, recs);
    const rep = (await rx.store.report('ST01'));
    assert.is(rep.late, 2);
    assert.ok(rep.maxLagMs >= 3 * 3_600_000 - 120_000);
    void fresh;
  });
  
  register("the overview of all stations (one grouped query) says what each station's own report says: gaps, late, rejected, empty", async () => {
    const [k1, k2, k3] = [makeKeys(), makeKeys(), makeKeys()];
    const station = (code: string, keys: Keys, n: number, at: number) => {
      const { store } = makeStore(keys, { clock: new ManualClock(0, at), station: code });
      const out = Array.from({ length: n }, (_, i) => store.append(makeAttempt(i + 1, { station: code })));
      store.close();
      return out;
    };
    const a = station('ST01', k1, 9, Date.now() - 3 * 3_600_000);
    const b = station('ST02', k2, 4, Date.now());
    const rx = await start({ stations: { ST01: k1.publicKeyPem, ST02: k2.publicKeyPem, ST03: k3.publicKeyPem }, verifyThreads: 0, lateAfterMs: 3_600_000 });
    await post(rx, [a[0], a[2], a[5], a[8]]); // gaps 2, 4-5, 7-8; all late
    await post(rx, [b[1], { ...b[2], netFilledG: 1 }, b[3]]); // gap 1; one altered
    const all = await rx.store.stationReports();
    assert.equal(all.map((r) => r.station), ['ST01', 'ST02', 'ST03']);
    assert.equal(all, await Promise.all(['ST01', 'ST02', 'ST03'].map((c) => rx.store.report(c))));
    assert.equal(all[0].gaps, [{ from: 2, to: 2 }, { from: 4, to: 5 }, { from: 7, to: 8 }]);
    assert.equal([all[0].late, all[1].late, all[1].rejected, all[1].gaps, all[1].lastRecordAt], [4, 0, 1, [{ from: 1, to: 1 }, { from: 3, to: 3 }], b[3].recordedAt]);
    assert.equal([all[2].accepted, all[2].gaps, all[2].lastSeq], [0, [], undefined]);
    const http = (await (await fetch(`${rx.url}/v1/stations`)).json()) as { stations: unknown[] };
    assert.equal(http.stations, JSON.parse(JSON.stringify(all)));
  });

  register('HTTP: NDJSON batches through the worker pool, station report, CSV and JSON export per period', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 120);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 2 });
    const res = await fetch(`${rx.url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: recs.map((r) => JSON.stringify(r)).join('\n') + '\n' });
    const body = (await res.json()) as { results: { status: string }[] };
    assert.is(body.results.filter((r) => r.status === 'accepted').length, 120);
    const stations = (await (await fetch(`${rx.url}/v1/stations`)).json()) as { stations: { station: string; accepted: number }[] };
    assert.equal(stations.stations.map((s) => [s.station, s.accepted]), [['ST01', 120]]);
    const from = encodeURIComponent(recs[10].recordedAt);
    const to = encodeURIComponent(recs[20].recordedAt);
    const csv = await (await fetch(`${rx.url}/v1/stations/ST01/records?format=csv&from=${from}&to=${to}`)).text();
    const lines = csv.trim().split('\r\n');
    assert.is(lines.length, 11);
    assert.match(lines[1], /^ST01,11,/);
    const json = (await (await fetch(`${rx.url}/v1/stations/ST01/records?format=json`)).json()) as FillRecordV1[];
    assert.is(json.length, 120);
    assert.equal(json[5], recs[5], 'stored as signed');
    assert.is((await fetch(`${rx.url}/v1/stations/ST01/records?format=xml`)).status, 400);
    assert.is((await fetch(`${rx.url}/v1/records`, { method: 'POST', body: 'not json' })).status, 400);
  });
  register('the event chain: once, duplicates answered, forged refused, a gap reported and filled', async () => {
    const keys = makeKeys();
    const evs = eventChain(keys, 5);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    assert.equal((await post(rx, evs.slice(0, 2), 'events')).map((r) => r.status), ['accepted', 'accepted']);
    assert.equal((await post(rx, evs.slice(0, 2), 'events')).map((r) => r.status), ['duplicate', 'duplicate']);
    assert.is((await post(rx, [{ ...evs[4], kind: 'alarm.cleared' }], 'events'))[0].reason, 'BAD_SIGNATURE');
    const r = await post(rx, [evs[4]], 'events');
    assert.equal(r[0].gap, { from: 3, to: 4 });
    assert.equal((await rx.events.report('ST01')).gaps, [{ from: 3, to: 4 }]);
    await post(rx, [evs[2], evs[3]], 'events');
    const rep = await rx.events.report('ST01');
    assert.equal([rep.accepted, rep.gaps, rep.rejected, rep.byKind], [5, [], 1, { 'alarm.cleared': 2, 'alarm.raised': 3 }]);
    assert.equal((await rx.events.events('ST01', undefined, undefined, 'alarm.raised')).map((e) => e.seq), [1, 3, 5]);
  });

  register('two batches of one station at once on one node: one copy of each record, no gap', async () => {
    const keys = makeKeys();
    const recs = chain(keys, 400);
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 2 });
    const [a, b] = await Promise.all([post(rx, recs.slice(0, 300)), post(rx, recs.slice(100))]);
    const accepted = [...a, ...b].filter((r) => r.status === 'accepted').length;
    assert.is(accepted, 400);
    assert.is([...a, ...b].filter((r) => r.status === 'duplicate').length, 200);
    const rep = await rx.store.report('ST01');
    assert.equal([rep.accepted, rep.lastSeq, rep.gaps], [400, 400, []]);
  });

  register('key rotation by a handover the old key signs; revocation with a date; the admin API needs its token', async () => {
    const oldKeys = makeKeys();
    const newKeys = makeKeys();
    const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
    const { dir, cleanup } = tempDir();
    let store = makeStore(oldKeys, { clock, db: `${dir}/station.db` }).store;
    const next = () => (clock.advance(60_000), store.append(makeAttempt(Math.round(clock.wall() / 60_000) % 1e6)));
    const before = [next(), next()];
    const rx = await start({ stations: { ST01: oldKeys.publicKeyPem }, verifyThreads: 0, adminToken: 'sesame' });
    assert.equal((await post(rx, before)).map((r) => r.status), ['accepted', 'accepted']);
    const at = Date.UTC(2026, 2, 1, 1);
    const forged = makeHandover('ST01', newKeys.privateKey, newKeys.publicKeyPem, at);
    const refused = await fetch(`${rx.url}/v1/stations/ST01/keys/handover`, { method: 'POST', body: JSON.stringify(forged) });
    assert.is(refused.status, 422, 'a handover signed by the new key itself is refused');
    const h = makeHandover('ST01', oldKeys.privateKey, newKeys.publicKeyPem, at);
    assert.is((await fetch(`${rx.url}/v1/stations/ST01/keys/handover`, { method: 'POST', body: JSON.stringify(h) })).status, 200);
    const keys = ((await (await fetch(`${rx.url}/v1/stations/ST01/keys`)).json()) as { keys: { fp: string; revokedAfterMs?: number; via: string }[] }).keys;
    assert.equal(keys.map((k) => [k.via, k.revokedAfterMs]), [['handover', undefined], ['config', at]]);
    // Records the old key signed before the handover (uploaded late) still go in; one it signed after is refused.
    const lateOld = next();
    assert.is((await post(rx, [lateOld]))[0].status, 'accepted');
    // The station goes on with its chain under the new key: seq 4 links to seq 3 and verifies.
    store.close();
    clock.advance(2 * 3_600_000);
    store = makeStore(newKeys, { clock, db: `${dir}/station.db` }).store;
    const withNew = next();
    assert.equal((await post(rx, [withNew])).map((x) => [x.status, x.seq]), [['accepted', 4]]);
    store.close();
    cleanup();
    // The old key, used after the handover (a copy of the old station PC): refused.
    const afterOld = chain(oldKeys, 1, new ManualClock(0, Date.UTC(2026, 2, 1, 3)), 500)[0];
    const r = await post(rx, [afterOld]);
    assert.equal([r[0].status, r[0].reason], ['rejected', 'KEY_REVOKED']);
    assert.match(r[0].message ?? '', /revoked after 2026-03-01T01:00:00.000Z/);
    // An administrator revokes the new key too (the station PC was stolen) and registers a third.
    const third = makeKeys();
    const admin = (path: string, body: unknown, token = 'sesame') => fetch(`${rx.url}/v1/admin/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    assert.is((await admin('stations', { code: 'ST01', publicKey: third.publicKeyPem }, 'wrong')).status, 401);
    assert.is((await admin('stations/ST01/revoke', { after: '2026-03-02T00:00:00Z' })).status, 200);
    assert.is((await admin('stations', { code: 'ST02', publicKey: third.publicKeyPem })).status, 200);
    assert.ok((await rx.store.stationCodes()).includes('ST02'));
    const revoked = (await rx.store.stationKeys('ST01')).find((k) => k.via === 'handover');
    assert.is(revoked?.revokedAfterMs, Date.UTC(2026, 2, 2));
  });

  register('migrations: versioned, recorded, run once; a schema newer than the code is refused', async () => {
    const db = await freshDb(true);
    const rx = await start({ dbPath: db, verifyThreads: 0 });
    const doc = await rx.store.doctor();
    assert.is(doc.schemaVersion, doc.codeSchemaVersion);
    assert.equal(doc.problems, []);
    await rx.close();
    running.splice(running.indexOf(rx), 1);
    const again = await start({ dbPath: db, verifyThreads: 0 });
    assert.is((await again.store.doctor()).schemaVersion, doc.codeSchemaVersion, 'a restart finds nothing to migrate');
    await rawExec(again, 'INSERT INTO schema_migrations (version, name, applied_ms) VALUES (999, \'from the future\', 0)');
    await again.close();
    running.splice(running.indexOf(again), 1);
    try {
      await startReceiver({ dbPath: db, verifyThreads: 0 });
      assert.unreachable('a newer schema must be refused');
    } catch (err) {
      assert.match((err as Error).message, /schema version 999, newer than this receiver's/);
    }
  });

  register('health, readiness and metrics endpoints', async () => {
    const keys = makeKeys();
    const rx = await start({ stations: { ST01: keys.publicKeyPem }, verifyThreads: 0, nodeName: 'n1' });
    assert.is((await fetch(`${rx.url}/healthz`)).status, 200);
    assert.equal(await (await fetch(`${rx.url}/readyz`)).json(), { ready: true, node: 'n1', store: rx.store.kind });
    await post(rx, chain(keys, 3));
    const text = await (await fetch(`${rx.url}/metrics`)).text();
    const line = (name: string, ...labels: string[]) => text.split('\n').find((l) => l.startsWith(name + '{') && labels.every((x) => l.includes(x)));
    assert.match(line('fillgate_receiver_items_total', 'chain="records"', 'status="accepted"', 'node="n1"') ?? '', / 3$/);
    assert.match(line('fillgate_receiver_batch_seconds_count', 'chain="records"', 'node="n1"') ?? '', / 1$/);
    rx.drain();
    assert.is((await fetch(`${rx.url}/readyz`)).status, 503, 'a draining node leaves the balancer');
  });
}

/** Raw SQL on either store (tests only). */
async function rawExec(rx: RunningReceiver, sql: string): Promise<void> {
  const s = rx.store as unknown as { db?: { exec(sql: string): void }; pg?: { query(sql: string): Promise<unknown> } };
  if (s.pg) await s.pg.query(sql);
  else s.db!.exec(sql);
}

export { tempDir };
