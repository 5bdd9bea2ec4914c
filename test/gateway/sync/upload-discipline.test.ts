/**
 * Upload discipline (issue 10 point 8; domain.md 1, seed 000: 充装数据上传不及时不准确的充装单位，
 * 一律不得充装). The timeliness lock is on by default; a record the receiver rejects (inaccurate
 * data) counts as not uploaded and holds the lock until it is resolved; retention below the
 * 2 years of DB4114/T 185-2023 is a config error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RecordStore } from '../../../gateway/records/store.ts';
import { timelinessConfigSchema } from '../../../gateway/records/config.ts';
import { syncStatus } from '../../../gateway/sync/status.ts';
import { recordFillLocks, stationTimeliness, uploadTimeliness } from '../../../gateway/sync/timeliness.ts';
import { Uploader } from '../../../gateway/sync/uploader.ts';
import { validateConfig } from '../../../gateway/config/config.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { makeAttempt, makeKeys, makeStore, tempDir } from '../records/fixtures.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import Database from '../../../gateway/sqlite.ts';
import { openRegistry } from '../../../gateway/registry/registry.ts';
import { syncCommand } from '../../../gateway/cli/records.ts';

const DAY = 86_400_000;
const cleanups: (() => Promise<void> | void)[] = [];
test.after.each(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A platform that rejects (not retryable) every record whose id is in `reject`, accepts the rest. */
async function platform(reject: Set<string>): Promise<string> {
  const server: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      const ids = b.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      const results = ids.map((id) => (reject.has(id) ? { id, status: 'rejected', reason: 'BAD_DATA', message: 'net mass does not match gross − tare', retryable: false } : { id, status: 'accepted' }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
}

function uploader(store: RecordStore, clock: ManualClock, url: string): Uploader {
  const up = new Uploader({ store, clock, config: { url, batchSize: 50, idleMs: 20, backoff: { initialMs: 10, maxMs: 50, factor: 2, jitter: 0.5 } } });
  cleanups.push(() => up.stop());
  return up;
}

test('the timeliness lock is on by default: new fills are refused once the oldest record waits 24 h', () => {
  const { store, clock } = makeStore(makeKeys());
  cleanups.push(() => store.close());
  assert.is(timelinessConfigSchema.parse({}).lockAgeMs, DAY);
  store.append(makeAttempt(1));
  clock.advance(DAY - 1000);
  assert.equal([uploadTimeliness(store, clock).state, recordFillLocks(store, clock).length], ['warn', 0]);
  clock.advance(1000);
  const t = uploadTimeliness(store, clock);
  assert.equal([t.state, t.lockAgeMs], ['lock', DAY]);
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_UPLOAD']);
  // null turns it off (config check warns); a station without an upload target has nothing to be late for.
  assert.is(uploadTimeliness(store, clock, { lockAgeMs: null }).state, 'warn');
  assert.equal(stationTimeliness(undefined), { lockAgeMs: null });
});

test('a record the receiver rejects counts as not uploaded: it holds the lock until a supervisor settles it', async () => {
  const { store, clock } = makeStore(makeKeys());
  cleanups.push(() => store.close());
  for (let i = 1; i <= 3; i++) store.append(makeAttempt(i));
  const bad = (store.db.prepare('SELECT id FROM records WHERE seq = 2').get() as { id: string }).id;
  const up = uploader(store, clock, await platform(new Set([bad])));
  await up.uploadOnce();
  assert.equal([store.counts().pending, store.counts().acked, store.counts().rejected], [0, 2, 1]);
  // Not uploaded: the rejected record is the oldest one waiting, and warns at once.
  let t = uploadTimeliness(store, clock);
  assert.equal([t.state, t.oldestUnackedSeq, t.rejected], ['warn', 2, 1]);
  assert.is(syncStatus(store.db, clock.wall()).oldestUnacked?.seq, 2);
  clock.advance(DAY);
  t = uploadTimeliness(store, clock);
  assert.equal([t.state, t.oldestUnackedSeq], ['lock', 2]);
  const locks = recordFillLocks(store, clock);
  assert.equal(locks.map((l) => l.code), ['STATION_LOCKED_UPLOAD']);
  assert.match(locks[0].detail, /rejected by the platform: BAD_DATA/);
  // More uploads do not lift it.
  await up.uploadOnce();
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_UPLOAD']);
  // Resolved: the supervisor records how (the platform corrected it, a paper report): the lock lifts.
  assert.throws(() => store.settleRejected(1, 'B1009', 'x'), /not a rejected record/);
  assert.throws(() => store.settleRejected(2, 'B1009', ' '), /note/);
  store.settleRejected(2, 'B1009', 'corrected on the platform by the regulator, ticket 4711');
  assert.equal(recordFillLocks(store, clock), []);
  assert.equal(uploadTimeliness(store, clock).state, 'ok');
  assert.equal([store.counts().rejected, store.counts().settled], [0, 1]);
  const row = store.db.prepare('SELECT status, reject_reason FROM records WHERE seq = 2').get() as { status: number; reject_reason: string };
  assert.match(row.reject_reason, /BAD_DATA.*settled by B1009: corrected on the platform/);
});

test('a rejected record sent again once its cause is fixed is uploaded, and the lock lifts', async () => {
  const { store, clock } = makeStore(makeKeys());
  cleanups.push(() => store.close());
  for (let i = 1; i <= 2; i++) store.append(makeAttempt(i));
  const id = (store.db.prepare('SELECT id FROM records WHERE seq = 1').get() as { id: string }).id;
  const reject = new Set([id]);
  const up = uploader(store, clock, await platform(reject));
  await up.uploadOnce();
  clock.advance(DAY);
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_UPLOAD']);
  reject.clear(); // e.g. the platform registered the station's new key
  assert.is(store.resendRejected(), 1);
  assert.equal(recordFillLocks(store, clock).map((l) => l.code), ['STATION_LOCKED_UPLOAD'], 'still not uploaded');
  await up.uploadOnce();
  assert.equal([store.counts().acked, store.counts().rejected], [2, 0]);
  assert.equal(recordFillLocks(store, clock), []);
});

test('pruning keeps rejected records and passes settled ones', () => {
  const { store, clock } = makeStore(makeKeys(), { config: { retentionDays: 1, utcOffsetMinutes: 480 } });
  cleanups.push(() => store.close());
  for (let i = 1; i <= 4; i++) store.append(makeAttempt(i));
  store.applyAcks([1, 3, 4], [{ seq: 2, reason: 'BAD_DATA' }]);
  clock.advance(3 * DAY);
  assert.is(store.prune(), 1, 'only seq 1: the rejected seq 2 must stay');
  store.settleRejected(2, 'B1009', 'settled with the regulator');
  store.append(makeAttempt(5)); // a record within the retention period
  assert.is(store.prune(), 3, 'the settled seq 2 no longer holds back 3 and 4');
});

const minimal = (over: Record<string, unknown> = {}) => ({
  station: { code: 'ST01', unit: 'U1' },
  buses: { rs485: { url: 'modbus-tcp://127.0.0.1:502' } },
  posts: [{ id: 'P1', medium: 'LPG', scale: { kind: 'modbus', bus: 'rs485', unit: 1 }, reader: { link: 'tcp://127.0.0.1:4001' }, valve: { bus: 'rs485', unit: 2, coil: 0 } }],
  checkScale: { kind: 'modbus', bus: 'rs485', unit: 3 },
  upload: { url: 'https://platform.example.cn/upload' },
  ...over,
});

test('config: retention below 2 years is an error with a hint (DB4114/T 185-2023); a lock turned off warns', () => {
  const short = validateConfig(minimal({ records: { retentionDays: 365 } }));
  if (short.ok) throw new Error('a 365-day retention was accepted');
  const e = short.errors.find((x) => x.path === 'records.retentionDays');
  assert.ok(e, JSON.stringify(short.errors));
  assert.match(e!.message, /365 days/);
  assert.match(e!.hint ?? '', /DB4114\/T 185-2023.*730/);
  const ok = validateConfig(minimal({ records: { retentionDays: 730 } }));
  assert.ok(ok.ok, JSON.stringify(ok.ok ? [] : ok.errors));
  const warnings = (r: ReturnType<typeof validateConfig>) => (r.ok ? r.warnings : []).map((w) => w.path);
  assert.equal(warnings(ok).filter((p) => p.startsWith('upload')), []);
  assert.ok(warnings(validateConfig(minimal({ upload: { url: 'https://platform.example.cn/upload', timeliness: { lockAgeMs: null } } }))).includes('upload.timeliness.lockAgeMs'));
});

test('CLI: fillgate sync settle needs a registered supervisor and a note; fillgate sync resend queues rejected records again', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringifyYaml({ ...minimal(), dataDir: dir }));
  const keys = makeKeys();
  const store = new RecordStore({ db: join(dir, 'records.db'), clock: new ManualClock(1000), station: 'ST01', privateKey: keys.privateKey });
  for (let i = 1; i <= 3; i++) store.append(makeAttempt(i));
  store.applyAcks([1], [{ seq: 2, reason: 'BAD_DATA' }, { seq: 3, reason: 'BAD_DATA' }]);
  const reg = new Database(join(dir, 'station.db'));
  const registry = openRegistry(reg);
  registry.upsertOperator({ badge: 'S1', name: 'Supervisor', roles: ['supervisor'] });
  registry.upsertOperator({ badge: 'B1', name: 'Filler', roles: ['filler'] });
  reg.close();
  const quiet = async (args: string[]) => {
    const [log, err] = [console.log, console.error];
    console.log = console.error = () => {};
    try {
      return await syncCommand(args);
    } finally {
      [console.log, console.error] = [log, err];
    }
  };
  assert.is(await quiet(['settle', '--config', file, '--seq', '2', '--by', 'B1', '--note', 'fixed']), 1, 'a filler cannot settle');
  assert.is(await quiet(['settle', '--config', file, '--seq', '2', '--by', 'S1']), 2, 'a note is required');
  assert.is(await quiet(['settle', '--config', file, '--seq', '2', '--by', 'S1', '--note', 'corrected on the platform']), 0);
  assert.is(await quiet(['resend', '--config', file]), 0);
  assert.equal([store.counts().settled, store.counts().pending, store.counts().rejected], [1, 1, 0]);
  store.close();
});

test.run();
