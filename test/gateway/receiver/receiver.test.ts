import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sign } from 'node:crypto';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { signedBytes, type FillRecordV1 } from '../../../gateway/records/record.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { makeAttempt, makeKeys, makeStore, tempDir, type Keys } from '../records/fixtures.ts';

// Close every receiver after each test, also when an assertion failed midway (else the file hangs).
const running: RunningReceiver[] = [];
async function start(opts: Parameters<typeof startReceiver>[0]): Promise<RunningReceiver> {
  const rx = await startReceiver(opts);
  running.push(rx);
  return rx;
}
test.after.each(async () => {
  for (const rx of running.splice(0)) await rx.close().catch(() => {});
});

async function post(rx: RunningReceiver, records: unknown[]): Promise<{ status: string; reason?: string; message?: string; seq?: number; gap?: unknown; retryable?: boolean }[]> {
  const res = await fetch(`${rx.url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }) });
  assert.is(res.status, 200);
  return ((await res.json()) as { results: [] }).results;
}

function chain(keys: Keys, n: number, clock = new ManualClock(0, Date.UTC(2026, 2, 1)), idBase = 0): FillRecordV1[] {
  const { store } = makeStore(keys, { clock });
  const out: FillRecordV1[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(store.append(makeAttempt(idBase + i)));
    clock.advance(60_000);
  }
  store.close();
  return out;
}

test('accepts a chain once; a resend is answered duplicate; stored exactly once', async () => {
  const keys = makeKeys();
  const recs = chain(keys, 5);
  const rx = await start({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
  assert.equal((await post(rx, recs.slice(0, 3))).map((r) => r.status), ['accepted', 'accepted', 'accepted']);
  assert.equal((await post(rx, recs)).map((r) => r.status), ['duplicate', 'duplicate', 'duplicate', 'accepted', 'accepted']);
  const rep = (await rx.store.report('ST01'));
  assert.is(rep.accepted, 5);
  assert.is(rep.lastSeq, 5);
  assert.equal(rep.gaps, []);
  assert.is(rep.lastRecordAt, recs[4].recordedAt);
});

test('forged and altered records are rejected with a reason; unknown station is retryable', async () => {
  const keys = makeKeys();
  const forger = makeKeys();
  const recs = chain(keys, 3);
  const rx = await start({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
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

test('a gap (records removed at the station) is reported; what verifies is stored; a late original fills the gap', async () => {
  const keys = makeKeys();
  const recs = chain(keys, 6);
  const rx = await start({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
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

test('a second chain (same seq, other content, validly signed) is a conflict, not a duplicate', async () => {
  const keys = makeKeys();
  const a = chain(keys, 2);
  const sameIds = chain(keys, 2, new ManualClock(5, Date.UTC(2026, 2, 2))); // same ids, other content
  const otherIds = chain(keys, 2, new ManualClock(5, Date.UTC(2026, 2, 2)), 1000); // same key and seqs, other ids: a forked chain
  const rx = await start({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
  await post(rx, a);
  const r = await post(rx, [sameIds[1], otherIds[1]]);
  assert.equal(r.map((x) => [x.status, x.reason]), [['rejected', 'CONFLICT'], ['rejected', 'CONFLICT']]);
  assert.match(r[0].message ?? '', /already accepted \(seq 2\) with different content/);
  assert.match(r[1].message ?? '', /seq 2 already holds record att-0000002: a second chain/);
});

test('late uploads are counted per station', async () => {
  const keys = makeKeys();
  const recs = chain(keys, 2, new ManualClock(0, Date.now() - 3 * 3_600_000));
  const fresh = chain(keys, 3, new ManualClock(0, Date.now())).slice(2);
  const rx = await start({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0, lateAfterMs: 3_600_000 });
  await post(rx, recs);
  const rep = (await rx.store.report('ST01'));
  assert.is(rep.late, 2);
  assert.ok(rep.maxLagMs >= 3 * 3_600_000 - 120_000);
  void fresh;
});

test('HTTP: NDJSON batches through the worker pool, station report, CSV and JSON export per period', async () => {
  const keys = makeKeys();
  const recs = chain(keys, 120);
  const { dir, cleanup } = tempDir();
  const rx = await start({ dbPath: `${dir}/rx.db`, stations: { ST01: keys.publicKeyPem }, verifyThreads: 2 });
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
  cleanup();
});

test.run();
