/**
 * PostgreSQL specifics (issue 11 point 5): records partitioned by month, a record made far
 * outside any month kept in the default partition (and named by the doctor), retention of
 * at least 2 years by dropping whole months, the chain still linking after a prune, and
 * `fillgate receiver doctor` on both stores.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { PgReceiverStore } from '../../../gateway/receiver/pg-store.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import type { FillRecordV1 } from '../../../gateway/records/record.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';
import { makeAttempt, makeKeys, tempDir } from '../records/fixtures.ts';
import { post } from './suite.ts';

const it = skipIf(test, missing(INITDB));
let server: TestPostgres | undefined;
const running: RunningReceiver[] = [];
test.after.each(async () => {
  for (const rx of running.splice(0)) await rx.close().catch(() => undefined);
});
test.after(async () => {
  await server?.stop();
});

async function start(db: string, over: Partial<Parameters<typeof startReceiver>[0]> = {}): Promise<RunningReceiver> {
  const rx = await startReceiver({ dbPath: db, verifyThreads: 0, ...over });
  running.push(rx);
  return rx;
}

it('records go to the partition of their month; a record years off goes to the default partition and the doctor says so', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase('parts');
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 10));
  const store = new RecordStore({ db: ':memory:', clock, station: 'ST01', privateKey: keys.privateKey, config: { utcOffsetMinutes: 0 } });
  const recs: FillRecordV1[] = [];
  for (let i = 1; i <= 4; i++) {
    recs.push(store.append(makeAttempt(i)));
    clock.advance(40 * 86_400_000); // 10 March, 19 April, 29 May, 8 July 2026
  }
  store.close();
  const rx = await start(db, { stations: { ST01: keys.publicKeyPem } });
  assert.equal((await post(rx, recs)).map((r) => r.status), ['accepted', 'accepted', 'accepted', 'accepted']);
  const c = new pg.Client({ connectionString: db });
  c.on('error', () => undefined);
  await c.connect();
  running.push({ close: () => c.end() } as unknown as RunningReceiver);
  const where = (await c.query<{ p: string; n: string }>('SELECT tableoid::regclass::text AS p, COUNT(*) AS n FROM received GROUP BY 1 ORDER BY 1')).rows.map((r) => [r.p, Number(r.n)]);
  assert.equal(where, [['received_y2026m03', 1], ['received_y2026m04', 1], ['received_y2026m05', 1], ['received_y2026m07', 1]]);
  // A station whose clock said 2015: kept (it verifies), in the default partition, named by the doctor.
  const old = new ManualClock(0, Date.UTC(2015, 0, 1));
  const k2 = makeKeys();
  const s2 = new RecordStore({ db: ':memory:', clock: old, station: 'ST02', privateKey: k2.privateKey, config: { utcOffsetMinutes: 0 } });
  const r2 = s2.append(makeAttempt(1, { station: 'ST02' }));
  s2.close();
  await rx.store.registerStation('ST02', k2.publicKeyPem);
  assert.is((await post(rx, [r2]))[0].status, 'accepted');
  assert.is((await c.query('SELECT 1 FROM received_default')).rowCount, 1);
  const doc = await rx.store.doctor();
  assert.is(doc.partitions?.defaultRows, 1);
  assert.match(doc.problems.join('\n'), /1 records in the default partition/);
  assert.equal(doc.connections!.receivers >= 1, true);
});

it('retention: fewer than 24 months refused; whole months past retention dropped; the chain still links and the gap report ignores the pruned seqs', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase('retain');
  assert.throws(() => new PgReceiverStore({ dbPath: db, retainMonths: 12 }), /at least 24/);
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 10));
  const store = new RecordStore({ db: ':memory:', clock, station: 'ST01', privateKey: keys.privateKey, config: { utcOffsetMinutes: 0 } });
  const recs: FillRecordV1[] = [];
  for (let i = 1; i <= 3; i++) {
    recs.push(store.append(makeAttempt(i)));
    clock.advance(40 * 86_400_000);
  }
  const rx = await start(db, { stations: { ST01: keys.publicKeyPem } });
  await post(rx, recs);
  await rx.close();
  running.pop();
  // 30 months later, with 24 months' retention: the 2026 months go at start.
  const later = Date.UTC(2028, 9, 15);
  const rx2 = await start(db, { retainMonths: 24, now: () => later });
  const rep = await rx2.store.report('ST01');
  assert.equal([rep.accepted, rep.gaps], [0, []], 'the months are gone, and what went is not reported missing');
  clock.epoch = later - clock.mono; // the station's clock, 30 months on
  const next = store.append(makeAttempt(4));
  store.close();
  const r = await post(rx2, [next]);
  assert.equal([r[0].status, r[0].gap], ['accepted', undefined], 'seq 4 links to the kept tip (seq 3)');
  assert.equal((await rx2.store.report('ST01')).gaps, []);
});

it('fillgate receiver doctor: schema, connections, lag; exit 0 when healthy, 1 on a problem (both stores)', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase('doc');
  const rx = await start(db);
  const main = new URL('../../../gateway/receiver/main.ts', import.meta.url).pathname;
  const run = (url: string) => spawnSync(process.execPath, ['--import', 'tsx', main, 'doctor', '--db', url], { encoding: 'utf8', timeout: 60_000 });
  const ok = run(db);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /store +postgres \(PostgreSQL 15/);
  assert.match(ok.stdout, /schema +version (\d+) \(code \1\)/);
  assert.match(ok.stdout, /connections +\d+ of 200 \(\d+ receiver\)/);
  assert.match(ok.stdout, /partitions +\d+ months/);
  await rx.close();
  running.pop();
  const { dir, cleanup } = tempDir();
  const lite = run(`${dir}/rx.db`);
  assert.is(lite.status, 0, lite.stdout + lite.stderr);
  assert.match(lite.stdout, /store +sqlite/);
  cleanup();
  const down = run('postgres://fillgate@127.0.0.1:9/postgres');
  assert.is(down.status, 1);
  assert.match(down.stderr, /cannot open/);
});


it('migration 3: a database of schema 2 (cylinder read from the body) gets the cylinder and outcome columns filled from its bodies, and the reports find them', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase('mig3');
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 10));
  const store = new RecordStore({ db: ':memory:', clock, station: 'ST01', privateKey: keys.privateKey, config: { utcOffsetMinutes: 0 } });
  const recs = [1, 2, 3].map((i) => store.append(makeAttempt(i, { cylinderCode: `CYL-${i}` })));
  store.close();
  let rx = await start(db, { stations: { ST01: keys.publicKeyPem }, now: () => Date.UTC(2026, 2, 12) });
  await post(rx, recs);
  await rx.close();
  // Back to schema 2 as the previous release left it: no columns, the expression index.
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  await c.query(`ALTER TABLE received DROP COLUMN cylinder, DROP COLUMN outcome;
    CREATE INDEX received_cylinder ON received (((body::jsonb) ->> 'cylinderCode'), recorded_ms);
    DELETE FROM schema_migrations WHERE version = 3`);
  rx = await start(db, { now: () => Date.UTC(2026, 2, 12) });
  assert.equal((await c.query('SELECT seq, cylinder, outcome FROM received ORDER BY seq')).rows.map((r) => [Number(r.seq), r.cylinder, r.outcome]), recs.map((r) => [r.seq, r.cylinderCode, r.outcome]));
  const idx = (await c.query<{ def: string }>("SELECT indexdef AS def FROM pg_indexes WHERE indexname = 'received_cylinder'")).rows[0].def;
  assert.match(idx, /\(cylinder, recorded_ms\)/);
  const rows = await rx.reports.cylinderRecords('CYL-2', -8.64e15, 8.64e15, 10);
  assert.equal(rows.map((r) => r.seq), [2]);
  await c.end();
});

test.run();
