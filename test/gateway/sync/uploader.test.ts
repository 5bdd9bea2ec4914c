import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { canonicalJson } from '../../../gateway/records/canonical.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { backoffDelay } from '../../../gateway/sync/backoff.ts';
import { exampleProvinceAdapter } from '../../../gateway/sync/adapters/example-province.ts';
import { syncStatus, formatSyncStatus } from '../../../gateway/sync/status.ts';
import { recordFillLocks, uploadTimeliness } from '../../../gateway/sync/timeliness.ts';
import { Uploader } from '../../../gateway/sync/uploader.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createLogFactory } from '../../../gateway/log.ts';
import { eventually, makeAttempt, makeKeys, makeStore, tempDir } from '../records/fixtures.ts';

const cleanups: (() => Promise<void> | void)[] = [];
test.after.each(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function receiver(stations: Record<string, string>): Promise<RunningReceiver> {
  const rx = await startReceiver({ dbPath: ':memory:', stations, verifyThreads: 0 });
  cleanups.push(() => rx.close());
  return rx;
}
function uploader(store: RecordStore, clock: ManualClock, url: string, extra: Record<string, unknown> = {}): Uploader {
  const up = new Uploader({ store, clock, config: { url, batchSize: 7, idleMs: 20, backoff: { initialMs: 10, maxMs: 50, factor: 2, jitter: 0.5 }, ...extra } });
  cleanups.push(() => up.stop());
  return up;
}
async function fakePlatform(handler: (body: string) => { status: number; body: string }): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      bodies.push(b);
      const r = handler(b);
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`, bodies };
}

test('backoff: exponential, capped, jitter within [d·(1−j), d]', () => {
  const cfg = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
  assert.equal([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, cfg, () => 1)), [100, 200, 400, 800, 1000, 1000]);
  assert.is(backoffDelay(3, cfg, () => 0), 200);
  assert.is(backoffDelay(3, { ...cfg, jitter: 0 }, () => 0.3), 400);
});

test('plain http only to loopback; https anywhere', () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  assert.throws(() => new Uploader({ store, clock, config: { url: 'http://platform.example.cn/upload' } }), /plain http is allowed only to a loopback host/);
  assert.throws(() => new Uploader({ store, clock, config: { url: 'ftp://x/' } }), /https/);
  new Uploader({ store, clock, config: { url: 'https://platform.example.cn/upload' } });
  new Uploader({ store, clock, config: { url: 'http://127.0.0.1:9/upload' } });
  store.close();
});

test('uploads every record in order in batches; marked sent only when acknowledged; the cursor survives a restart', async () => {
  const keys = makeKeys();
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const clock = new ManualClock();
  let store = new RecordStore({ db: `${dir}/r.db`, clock, station: 'ST01', privateKey: keys.privateKey });
  for (let i = 1; i <= 20; i++) store.append(makeAttempt(i));
  const rx = await receiver({ ST01: keys.publicKeyPem });
  const up = uploader(store, clock, `${rx.url}/v1/records`);
  assert.equal(await up.uploadOnce(), { kind: 'ok', sent: 7, acked: 7, rejected: 0, unanswered: 0 });
  assert.is(store.counts().acked, 7);
  store.close();
  // Restart: a new store and uploader continue from seq 8, not from the start.
  store = new RecordStore({ db: `${dir}/r.db`, clock, station: 'ST01', privateKey: keys.privateKey });
  const up2 = uploader(store, clock, `${rx.url}/v1/records`);
  up2.start();
  store.append(makeAttempt(21));
  await eventually(() => store.counts().pending === 0, 20_000, 'all acknowledged');
  await up2.stop();
  assert.is((await rx.store.report('ST01')).accepted, 21);
  assert.is(up2.stats.duplicates, 0, 'nothing was sent twice');
  assert.equal((await rx.store.records('ST01')).map((r) => r.seq), Array.from({ length: 21 }, (_, i) => i + 1));
  store.close();
});

test('a 200 reply that acknowledges only some records marks only those; the rest are resent', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  for (let i = 1; i <= 4; i++) store.append(makeAttempt(i));
  let call = 0;
  const p = await fakePlatform((body) => {
    call++;
    const ids = body.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    if (call === 1) return { status: 200, body: JSON.stringify({ results: [{ id: ids[0], status: 'accepted' }, { id: 'not-in-batch', status: 'accepted' }] }) };
    if (call === 2) return { status: 200, body: '<html>proxy error</html>' };
    return { status: 200, body: JSON.stringify({ results: ids.map((id) => ({ id, status: 'duplicate' })) }) };
  });
  const up = uploader(store, clock, p.url);
  const first = await up.uploadOnce();
  assert.equal(first, { kind: 'ok', sent: 4, acked: 1, rejected: 0, unanswered: 3 });
  const second = await up.uploadOnce();
  assert.is(second.kind, 'failed');
  assert.is(store.counts().pending, 3, 'a reply that is not an acknowledgement marks nothing');
  assert.is((await up.uploadOnce()).kind, 'ok');
  assert.is(p.bodies[2].trim().split('\n').length, 1, 'the batch after a failed one (of 3) is halved (→ 1)');
  assert.is((await up.uploadOnce()).kind, 'ok');
  assert.is(store.counts().pending, 0);
  assert.is(p.bodies[3].trim().split('\n').length, 2, 'and doubled after the success');
});

test('a record the platform rejects is marked rejected with its reason and the uploads go on', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  for (let i = 1; i <= 3; i++) store.append(makeAttempt(i));
  // Forge seq 2 in place (a tamperer who bypasses the append-only trigger).
  store.db.exec('DROP TRIGGER records_append_only');
  const row = store.db.prepare('SELECT body FROM records WHERE seq = 2').get() as { body: string };
  store.db.prepare('UPDATE records SET body = ? WHERE seq = 2').run(canonicalJson({ ...JSON.parse(row.body), netFilledG: 9999 }));
  const rx = await receiver({ ST01: keys.publicKeyPem });
  const up = uploader(store, clock, `${rx.url}/v1/records`);
  await up.uploadOnce();
  assert.equal(store.counts(), { total: 3, pending: 0, acked: 2, rejected: 1, firstSeq: 1, lastSeq: 3 });
  const status = syncStatus(store.db);
  assert.equal(status.rejectedRecords.map((r) => r.seq), [2]);
  assert.match(status.rejectedRecords[0].reason, /BAD_SIGNATURE/);
  assert.match(formatSyncStatus(status), /rejected seq 2: BAD_SIGNATURE/);
  assert.equal((await rx.store.report('ST01')).gaps, [{ from: 2, to: 2 }], 'the regulator sees the hole');
});

test('an unregistered station is retried with backoff, not given up; registration lets everything through', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  for (let i = 1; i <= 3; i++) store.append(makeAttempt(i));
  const rx = await receiver({});
  const up = uploader(store, clock, `${rx.url}/v1/records`);
  const failures: string[] = [];
  up.batches.on((b) => b.kind === 'failed' && failures.push(b.error));
  up.start();
  await eventually(() => failures.length >= 2, 20_000, 'two failed attempts');
  assert.is(store.counts().pending, 3);
  assert.match(failures[0], /UNKNOWN_STATION/);
  const st = syncStatus(store.db, clock.wall() + 5000);
  assert.match(st.lastError ?? '', /UNKNOWN_STATION/);
  assert.equal([st.pending, st.oldestUnacked?.seq, st.oldestUnacked?.ageMs], [3, 1, 5000]);
  assert.match(formatSyncStatus(st), /oldest unacknowledged: seq 1, made 2026-01-01T08:00:01\.000\+08:00, 5 s ago/);
  await rx.store.registerStation('ST01', keys.publicKeyPem);
  await eventually(() => store.counts().pending === 0, 20_000, 'uploads after registration');
});

test('timeliness: age of the oldest unacknowledged record is known; the lock refuses a fill past lockAge and lifts when acknowledged', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  const cfg = { warnAgeMs: 60_000, lockAgeMs: 600_000 };
  assert.equal(uploadTimeliness(store, clock, cfg), { state: 'ok', oldestUnackedAgeMs: 0, warnAgeMs: 60_000, lockAgeMs: 600_000 });
  store.append(makeAttempt(1));
  clock.advance(120_000);
  assert.is(uploadTimeliness(store, clock, cfg).state, 'warn');
  assert.equal(recordFillLocks(store, clock, cfg), []);
  clock.advance(500_000);
  const t = uploadTimeliness(store, clock, cfg);
  assert.equal([t.state, t.oldestUnackedSeq, t.oldestUnackedAgeMs], ['lock', 1, 620_000]);
  const locks = recordFillLocks(store, clock, cfg);
  assert.equal(locks.map((l) => l.code), ['STATION_LOCKED_UPLOAD']);
  // The post controller refuses the fill with that code; the refusal itself is a record.
  store.append({ attemptId: 'refused-1', station: 'ST01', unit: 'U', post: 'P1', outcome: 'refused', trips: [], refusals: [{ code: locks[0].code, detail: locks[0].detail }] });
  const rx = await receiver({ ST01: keys.publicKeyPem });
  const up = uploader(store, clock, `${rx.url}/v1/records`, { timeliness: cfg });
  assert.is(up.timeliness().state, 'lock');
  await up.uploadOnce();
  assert.equal(recordFillLocks(store, clock, cfg), [], 'lifted once the backlog is acknowledged');
  assert.is(up.timeliness().oldestUnackedAgeMs, 0);
});

test('default timeliness: warn at 1 h, lock at 24 h (issue 10 point 8)', () => {
  const { store, clock } = makeStore(makeKeys());
  store.append(makeAttempt(1));
  clock.advance(30 * 86_400_000);
  const t = uploadTimeliness(store, clock);
  assert.equal([t.state, t.warnAgeMs, t.lockAgeMs], ['lock', 3_600_000, 86_400_000]);
  store.close();
});

test('example provincial adapter: field names of that platform, its acknowledgement codes', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  store.append(makeAttempt(1));
  store.append(makeAttempt(2));
  store.append(makeAttempt(3));
  const p = await fakePlatform((body) => {
    const data = (JSON.parse(body) as { Data: { RecordNo: string }[] }).Data;
    return { status: 200, body: JSON.stringify({ code: 0, msg: 'ok', data: data.map((d, i) => ({ RecordNo: d.RecordNo, Result: [1, 2, 0][i], Msg: i === 2 ? '气瓶未登记' : '' })) }) };
  });
  const up = uploader(store, clock, p.url, { adapter: 'example-province' });
  assert.is((await up.uploadOnce()).kind, 'ok');
  const sent = (JSON.parse(p.bodies[0]) as { Data: Record<string, unknown>[] }).Data[0];
  assert.equal(
    [sent.CylinderCode, sent.ValveCode, sent.GunNo, sent.FillerCertNo, sent.CheckerCertNo, sent.Medium, sent.CylinderSpec, sent.Tare, sent.FillWeight, sent.ReweighWeight, sent.Duration, sent.NextCheckDate],
    ['CYL100001', 'V200001', 'P2', 'P-2024-0001', 'P-2024-0002', '液化石油气', 'YSP35.5', '16.50', '14.88', '14.88', 61, '2028-05-01'],
  );
  assert.is(sent.StartTime, '2026-01-01 00:01:00');
  assert.ok(typeof sent.Sign === 'string' && typeof sent.SignedRecord === 'string');
  assert.equal(store.counts(), { total: 3, pending: 0, acked: 2, rejected: 1, firstSeq: 1, lastSeq: 3 });
  assert.equal(exampleProvinceAdapter.decodeAck(200, '{"code":500,"msg":"busy"}'), { ok: false, error: 'platform code 500: busy' });
});

test('retention: the uploader prunes acknowledged records older than the retention period', async () => {
  const keys = makeKeys();
  const clock = new ManualClock();
  const store = new RecordStore({ db: ':memory:', clock, station: 'ST01', privateKey: keys.privateKey, config: { retentionDays: 730 } });
  cleanups.push(() => store.close());
  for (let i = 1; i <= 5; i++) store.append(makeAttempt(i));
  const rx = await receiver({ ST01: keys.publicKeyPem });
  const up = uploader(store, clock, `${rx.url}/v1/records`, { pruneEveryMs: 1000 });
  clock.advance(731 * 86_400_000);
  store.append(makeAttempt(6));
  up.start();
  await eventually(() => up.stats.pruned === 5, 20_000, 'pruned');
  assert.equal(store.counts(), { total: 1, pending: 0, acked: 1, rejected: 0, firstSeq: 6, lastSeq: 6 });
});

test('HTTPS: uploads to a receiver with a certificate from a private CA (upload.caFile); an unknown certificate is refused', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  store.append(makeAttempt(1));
  const fixtures = new URL('./fixtures/', import.meta.url).pathname;
  const tls = { key: readFileSync(`${fixtures}tls-test-key.pem`, 'utf8'), cert: readFileSync(`${fixtures}tls-test-cert.pem`, 'utf8') };
  const rx = await startReceiver({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0, tls });
  cleanups.push(() => rx.close());
  assert.match(rx.url, /^https:/);
  const untrusted = uploader(store, clock, `${rx.url}/v1/records`);
  const refused = await untrusted.uploadOnce();
  assert.is(refused.kind, 'failed');
  assert.match(refused.kind === 'failed' ? refused.error : '', /self.signed|certificate/i);
  const trusted = uploader(store, clock, `${rx.url}/v1/records`, { caFile: `${fixtures}tls-test-cert.pem` });
  assert.equal(await trusted.uploadOnce(), { kind: 'ok', sent: 1, acked: 1, rejected: 0, unanswered: 0 });
});

test('the batch halves after each failed batch down to 1 record, doubles back after successes, and is bounded by bytes', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  for (let i = 1; i <= 60; i++) store.append(makeAttempt(i));
  let fail = 5;
  const p = await fakePlatform((body) => {
    if (fail-- > 0) return { status: 503, body: 'busy' };
    const ids = body.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    return { status: 200, body: JSON.stringify({ results: ids.map((id) => ({ id, status: 'accepted' })) }) };
  });
  const up = uploader(store, clock, p.url, { batchSize: 16, batchBytes: 1024 * 1024 });
  for (let i = 0; i < 10; i++) await up.uploadOnce();
  const sizes = p.bodies.map((b) => b.trim().split('\n').length);
  assert.equal(sizes, [16, 8, 4, 2, 1, 1, 2, 4, 8, 16]);
  assert.is(store.counts().acked, 1 + 2 + 4 + 8 + 16);
  // Bytes: a record is ~1.3 KB, so 3,000 bytes hold two of them, whatever the count allows.
  const byBytes = uploader(store, clock, p.url, { batchSize: 100, batchBytes: 3000 });
  assert.equal(await byBytes.uploadOnce(), { kind: 'ok', sent: 2, acked: 2, rejected: 0, unanswered: 0 });
});

test('every failure is counted by cause and logged with it, at most once per failureLogEveryMs with the count in between; recovery is logged', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  for (let i = 1; i <= 3; i++) store.append(makeAttempt(i));
  let fail = 6;
  const p = await fakePlatform((body) => {
    if (fail-- > 0) return { status: 503, body: 'platform busy' };
    const ids = body.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    return { status: 200, body: JSON.stringify({ results: ids.map((id) => ({ id, status: 'accepted' })) }) };
  });
  const lines: Record<string, unknown>[] = [];
  const logs = createLogFactory({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }) });
  const up = new Uploader({ store, clock, config: { url: p.url, failureLogEveryMs: 10_000 }, log: logs('sync') });
  cleanups.push(() => up.stop());
  for (let i = 0; i < 5; i++) assert.is((await up.uploadOnce()).kind, 'failed');
  const failed = () => lines.filter((l) => String(l.msg).startsWith('upload failed'));
  assert.is(failed().length, 1, 'five failures within the interval: one line');
  assert.equal([failed()[0]!.cause, failed()[0]!.level], ['http_5xx', 40]);
  assert.match(String(failed()[0]!.msg), /http_5xx.*HTTP 503: platform busy/);
  clock.advance(10_000);
  await up.uploadOnce();
  assert.is(failed().length, 2);
  assert.is(failed()[1]!.suppressed, 4, 'the failures not logged are counted in the next line');
  assert.equal(up.failuresByCause, { http_5xx: 6 });
  assert.is(up.stats.failures, 6);
  assert.is((await up.uploadOnce()).kind, 'ok');
  assert.ok(lines.some((l) => l.msg === 'uploads resumed' && l.failures === 6), 'recovery logged');
});

test('a stalled link (accepts the request, answers nothing) fails after stallMs with cause "stall", long before timeoutMs', async () => {
  const keys = makeKeys();
  const { store, clock } = makeStore(keys);
  cleanups.push(() => store.close());
  store.append(makeAttempt(1));
  const sockets: Socket[] = [];
  const server = createTcpServer((s) => (sockets.push(s), s.resume()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }));
  const up = uploader(store, clock, `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`, { stallMs: 300, timeoutMs: 20_000 });
  const t0 = Date.now();
  const out = await up.uploadOnce();
  assert.ok(Date.now() - t0 < 5000, `gave up after ${Date.now() - t0} ms`);
  assert.equal(out.kind === 'failed' ? [out.cause, out.size] : out, ['stall', 1]);
  assert.match(out.kind === 'failed' ? out.error : '', /stalled: no byte moved for 300 ms/);
});

test('default settings for a LAN or VPN: backoff capped at a few seconds, batches bounded by count and bytes', () => {
  const { store, clock } = makeStore(makeKeys());
  const up = new Uploader({ store, clock, config: { url: 'http://127.0.0.1:9/upload' } });
  assert.ok(up.config.backoff.maxMs <= 10_000, `backoff cap ${up.config.backoff.maxMs} ms`);
  assert.ok(up.config.batchBytes <= 512 * 1024, `batchBytes ${up.config.batchBytes}`);
  assert.ok(up.config.stallMs < up.config.timeoutMs);
  store.close();
});

test.run();
