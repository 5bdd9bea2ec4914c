/**
 * Issue 9 point 5, "the event loop belongs to the posts": what a user or an
 * integrator triggers from the dashboard (a registry import, a records export or
 * search) must not hold the event loop the posts' polls and cut-offs run on. These
 * are behaviour tests with a generous bound (MAX_GAP_MS against a 5 ms timer) that
 * the old synchronous code failed by far (20k-row import: 11,200 ms; at 20k
 * records the export 810 ms and the search 238 ms, so 40k records here). Not
 * tighter: on the shared 2-core test machine an idle loop is stalled by the OS by
 * up to ~190 ms now and then. The speed figures live in test/bench/event-loop.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from '../e2e/rig.ts';
import { findRecords, recordsCsv } from '../../gateway/http/dashboard/records.ts';
import { makeAttempt } from './records/fixtures.ts';
import { startStatusServer, type StatusServer } from '../../gateway/http/server.ts';
import { Client, testUsers } from './dashboard-support.ts';
import { bigCylinderCsv, gapProbe } from './event-loop-support.ts';

/** Longest allowed gap between 5 ms timer ticks. */
const MAX_GAP_MS = 300;
/** Records in the store for the export and search tests. */
const RECORDS = 40_000;

let rig: Rig;
let server: StatusServer;

test.before(async () => {
  rig = await startRig();
  server = await startStatusServer(rig.station, { ...rig.config.http, host: '127.0.0.1', port: 0, users: testUsers() });
});
test.after(async () => {
  await server?.close();
  await rig?.close();
});

test('a 20,000-row registry import through the dashboard leaves the event loop responsive (longest 5 ms-timer gap < 300 ms)', async () => {
  const sup = new Client(server.url);
  await sup.login('sup');
  const file = bigCylinderCsv(20_000, { prefix: 'RESP' });
  const probe = gapProbe(5);
  const r = await sup.post('/api/registry/import?what=cylinders&format=csv&file=big.csv', file, { 'content-type': 'text/csv' });
  const { maxGapMs } = probe.stop();
  assert.is(r.status, 200, r.text.slice(0, 500));
  assert.is(r.json.report.applied, true);
  assert.is(r.json.report.created, 20_000);
  assert.ok(rig.station.registry.getCylinder('RESP020000'), 'the last row was written');
  assert.ok(maxGapMs < MAX_GAP_MS, `the event loop was blocked for ${maxGapMs.toFixed(0)} ms`);
});

test('an import while a post is filling is refused with 409, naming the post, in both languages; nothing is read or written', async () => {
  const sup = new Client(server.url);
  await sup.login('sup');
  await beginFill(rig, 'P1', 'E2000017A1B20006'); // YSP118: a long fill
  await rig.until('cylinder ready', () => rig.phase('P1') === 'cylinderReady');
  rig.sim.press('P1', 'start');
  await rig.until('filling', () => rig.phase('P1') === 'filling');
  const r = await sup.post('/api/registry/import?what=cylinders&format=csv', bigCylinderCsv(3, { prefix: 'REFUSED' }), { 'content-type': 'text/csv' });
  rig.sim.press('P1', 'stop');
  assert.is(r.status, 409, r.text);
  assert.is(r.json.error, 'IMPORT_WHILE_FILLING');
  assert.equal(r.json.refusal.posts, ['P1']);
  assert.match(r.json.message.en, /P1 is filling/);
  assert.match(r.json.message.zh, /P1/);
  assert.is(rig.station.registry.getCylinder('REFUSED000001'), undefined);
  await rig.until('the fill ended', () => rig.phase('P1') !== 'filling' && rig.phase('P1') !== 'cutOff', 30_000);
});

test('a 40,000-record CSV export through the dashboard streams in chunks and leaves the event loop responsive', async () => {
  const base = 100_000;
  rig.station.store.appendMany(Array.from({ length: RECORDS }, (_, i) => makeAttempt(base + i, { station: rig.config.station.code })));
  const op = new Client(server.url);
  await op.login('op');
  const probe = gapProbe(5);
  const res = await fetch(server.url + '/api/records.csv', { headers: { cookie: op.cookie } });
  let chunks = 0;
  let text = '';
  const decoder = new TextDecoder();
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks++;
    text += decoder.decode(c, { stream: true });
  }
  const { maxGapMs } = probe.stop();
  assert.is(res.status, 200);
  assert.ok(chunks > 10, `${chunks} chunks`);
  assert.is(text.replace(/^\uFEFF/, ''), recordsCsv(rig.station.store.db, {}), 'the same CSV as the one-string export');
  assert.ok(maxGapMs < MAX_GAP_MS, `the event loop was blocked for ${maxGapMs.toFixed(0)} ms`);
});

test('a filtered records search over 40,000 records runs off the loop and finds what the query finds', async () => {
  const op = new Client(server.url);
  await op.login('op');
  const probe = gapProbe(5);
  const r = await op.get('/api/records?post=P2&cylinder=CYL2&limit=50');
  const { maxGapMs } = probe.stop();
  assert.is(r.status, 200, r.text);
  const direct = findRecords(rig.station.store.db, { post: 'P2', cylinder: 'CYL2' }, 50);
  assert.is(r.json.total, direct.total);
  assert.ok(direct.total > 1000);
  assert.equal(r.json.records.map((x: { seq: number }) => x.seq), direct.records.map((x) => x.seq));
  assert.ok(maxGapMs < MAX_GAP_MS, `the event loop was blocked for ${maxGapMs.toFixed(0)} ms`);
  assert.is((await op.get('/api/records?outcome=great')).status, 400, 'a bad filter is still a 400');
});

test('event-loop lag in /status and /metrics', async () => {
  const status = (await (await fetch(server.url + '/status')).json()) as { eventLoop: { p99Ms: number; maxMs: number; windowMs: number } };
  assert.type(status.eventLoop.p99Ms, 'number');
  assert.ok(status.eventLoop.maxMs >= status.eventLoop.p99Ms);
  assert.is(status.eventLoop.windowMs, 10_000);
  const metrics = await (await fetch(server.url + '/metrics')).text();
  assert.match(metrics, /^fillgate_event_loop_lag_seconds\{quantile="0\.99"\} [\d.e-]+$/m);
  assert.match(metrics, /^fillgate_event_loop_lag_seconds\{quantile="1"\} [\d.e-]+$/m);
  assert.match(metrics, /^fillgate_registry_import_running 0$/m);
});

test.run();
