/**
 * Stateless receiver nodes on one real PostgreSQL (issue 11 points 2 and 3): three receiver
 * processes (gateway/receiver/main.ts) with the same stations' uploads racing through them;
 * a node SIGKILLed mid-batch behind a failing-over balancer; PostgreSQL restarted mid-batch
 * (`pg_ctl restart`) while the station's own uploader keeps retrying. Each ends with one
 * copy of each record, every chain verified link by link and signature by signature
 * straight from the database, and the gaps right.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, request, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { sha256Hex } from '../../../gateway/records/canonical.ts';
import { verifyBytes, withoutSig, type FillRecordV1 } from '../../../gateway/records/record.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { Uploader } from '../../../gateway/sync/uploader.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';
import { eventually, makeAttempt, makeKeys, tempDir, type Keys } from '../records/fixtures.ts';
import { kill, spawnReceiver } from '../sync/helpers/rx-proc.ts';

const it = skipIf(test, missing(INITDB));
let server: TestPostgres | undefined;
const children: ChildProcess[] = [];
const closers: (() => unknown)[] = [];
const { dir, cleanup } = tempDir('fillgate-mn-');
let dbs = 0;

test.after.each(async () => {
  for (const c of children.splice(0)) await kill(c);
  for (const c of closers.splice(0)) await c();
});
test.after(async () => {
  await server?.stop();
  cleanup();
});

interface Station {
  code: string;
  keys: Keys;
  store: RecordStore;
  records: FillRecordV1[];
  lines: string[];
}

function station(code: string, n: number, db = ':memory:'): Station {
  const keys = makeKeys();
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  const store = new RecordStore({ db, clock, station: code, privateKey: keys.privateKey, config: { utcOffsetMinutes: 480 } });
  const records: FillRecordV1[] = [];
  for (let i = 1; i <= n; i++) {
    records.push(store.append(makeAttempt(i, { station: code })));
    clock.advance(30_000);
  }
  writeFileSync(`${dir}/${code}.pem`, keys.publicKeyPem);
  return { code, keys, store, records, lines: records.map((r) => JSON.stringify(r)) };
}

async function nodes(url: string, stations: Station[], k: number): Promise<{ url: string; child: ChildProcess }[]> {
  const args = ['--db', url, '--threads', '1', '--pool', '4', ...stations.flatMap((s) => ['--station', `${s.code}=${dir}/${s.code}.pem`])];
  const out = [];
  // The first node migrates; the others start together against the migrated schema.
  for (let i = 0; i < k; i++) {
    const r = await spawnReceiver([...args, '--node-name', `n${i + 1}`]);
    children.push(r.child);
    out.push({ url: r.url, child: r.child });
  }
  return out;
}

async function postLines(url: string, lines: string[]): Promise<{ status: string; id: string; reason?: string }[]> {
  const res = await fetch(`${url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') + '\n' });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { results: { status: string; id: string; reason?: string }[] }).results;
}

/** What PostgreSQL holds for a station, checked without the receiver's code: copies, links, signatures. */
async function checkChain(url: string, s: Station): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const rows = (await c.query<{ seq: string; id: string; hash: string; prev_hash: string; body: string }>('SELECT seq, id, hash, prev_hash, body FROM received WHERE station = $1 ORDER BY seq', [s.code])).rows;
    const idx = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM received_index WHERE station = $1', [s.code])).rows[0].n);
    const problems: string[] = [];
    if (rows.length !== s.records.length) problems.push(`${s.code}: ${rows.length} rows, want ${s.records.length}`);
    if (idx !== rows.length) problems.push(`${s.code}: ${idx} index rows for ${rows.length} records`);
    let prev = '0'.repeat(64);
    rows.forEach((r, i) => {
      if (Number(r.seq) !== i + 1) problems.push(`${s.code}: row ${i} has seq ${r.seq}`);
      const rec = JSON.parse(r.body) as FillRecordV1;
      const bytes = withoutSig(r.body, rec.sig)!;
      if (!verifyBytes(bytes, rec.sig, s.keys.publicKey)) problems.push(`${s.code}: seq ${r.seq} signature`);
      if (sha256Hex(bytes) !== r.hash || rec.prevHash !== prev || r.prev_hash !== prev) problems.push(`${s.code}: seq ${r.seq} does not link`);
      prev = r.hash;
    });
    return problems;
  } finally {
    await c.end();
  }
}

async function report(url: string, code: string): Promise<{ accepted: number; gaps: unknown[]; lastSeq?: number }> {
  return (await (await fetch(`${url}/v1/stations/${code}`)).json()) as { accepted: number; gaps: unknown[]; lastSeq?: number };
}

it('three nodes, the same stations racing through all of them: one copy of each record, chains verified, gaps right', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase(`mn${++dbs}`);
  const stations = ['ST01', 'ST02', 'ST03', 'ST04'].map((c) => station(c, 600));
  const ns = await nodes(db, stations, 3);
  // Every station's backlog in batches of 50, each batch sent to two nodes at once, and the
  // batches out of order (later ones first on one node), so nodes race on the same seqs and
  // open and close gaps under each other.
  const answers = new Map<string, string[]>();
  const sends: Promise<void>[] = [];
  const send = (s: Station, b: number, n: { url: string }) =>
    sends.push(
      postLines(n.url, s.lines.slice(b * 50, (b + 1) * 50)).then((rs) => {
        for (const r of rs) answers.set(`${s.code}/${r.id}`, [...(answers.get(`${s.code}/${r.id}`) ?? []), r.status]);
      }),
    );
  for (const s of stations) {
    for (let b = 0; b < 12; b++) send(s, b, ns[b % 3]); // in order on one node...
    for (let b = 11; b >= 0; b--) send(s, b, ns[(b + 1) % 3]); // ...and backwards on another
  }
  await Promise.all(sends);
  for (const s of stations) {
    for (const r of s.records) {
      const got = answers.get(`${s.code}/${r.id}`) ?? [];
      assert.equal(got.sort(), ['accepted', 'duplicate'], `${s.code} ${r.id}: one accepted, one duplicate (${got})`);
    }
    assert.equal(await checkChain(db, s), []);
    for (const n of ns) {
      const rep = await report(n.url, s.code);
      assert.equal([rep.accepted, rep.lastSeq, rep.gaps], [600, 600, []], `${s.code} as node ${n.url} sees it`);
    }
  }
  // A real hole stays a hole on every node: ST05 misses seqs 101-150.
  const holed = station('ST05', 200);
  const reg = await startReceiverKeyed(db, holed);
  await Promise.all([postLines(ns[1].url, holed.lines.slice(0, 100)), postLines(ns[2].url, holed.lines.slice(150)), postLines(reg, holed.lines.slice(150, 200))]);
  for (const n of ns) assert.equal((await report(n.url, 'ST05')).gaps, [{ from: 101, to: 150 }]);
  for (const s of [...stations, holed]) s.store.close();
});

/** A fourth node that registers ST05 (the others learn the key from the database when its records arrive). */
async function startReceiverKeyed(db: string, s: Station): Promise<string> {
  const r = await spawnReceiver(['--db', db, '--threads', '0', '--station', `${s.code}=${dir}/${s.code}.pem`, '--node-name', 'n4']);
  children.push(r.child);
  return r.url;
}

let failovers = 0;
/** A load balancer of the simplest kind: round robin, and on a connection error the next node. */
async function balancer(targets: () => string[]): Promise<{ url: string; server: Server }> {
  let next = 0;
  failovers = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const tryNode = (left: number) => {
        const list = targets();
        const u = new URL(req.url ?? '/', list[next++ % list.length]);
        const out = request(u, { method: req.method, headers: { ...req.headers, host: u.host } }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        out.on('error', () => {
          failovers++;
          if (left > 0) tryNode(left - 1);
          else if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
        out.end(body);
      };
      tryNode(targets().length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise((r) => server.close(() => r(undefined))));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

function uploader(s: Station, url: string): Uploader {
  const up = new Uploader({ store: s.store, clock: new ManualClock(), config: { url: `${url}/v1/records`, batchSize: 400, idleMs: 20, timeoutMs: 20_000, backoff: { initialMs: 50, maxMs: 300, factor: 2, jitter: 0.5 } } });
  closers.push(() => up.stop());
  return up;
}

it('a node SIGKILLed mid-batch: the uploaders retry through the balancer, nothing lost or duplicated', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase(`mn${++dbs}`);
  const stations = ['ST11', 'ST12', 'ST13'].map((c) => station(c, 2000, `${dir}/${c}.db`));
  const ns = await nodes(db, stations, 3);
  let live = ns.map((n) => n.url);
  const lb = await balancer(() => live);
  const ups = stations.map((s) => uploader(s, lb.url));
  ups.forEach((u) => u.start());
  await eventually(async () => (await report(ns[1].url, 'ST11')).accepted >= 300, 60_000, 'uploads under way');
  // Mid-batch: wait until node 1 is verifying or committing a batch, then SIGKILL it; its
  // connections reset and its open transaction rolls back (or had committed: then "duplicate").
  await eventually(async () => /fillgate_receiver_inflight_batches\{[^}]*\} [1-9]/.test(await (await fetch(`${ns[0].url}/metrics`)).text()), 60_000, 'a batch in flight on node 1');
  await kill(ns[0].child);
  live = live.slice(1);
  for (const s of stations) await eventually(() => s.store.counts().pending === 0, 120_000, `${s.code} all acknowledged`);
  for (const s of stations) {
    assert.equal(await checkChain(db, s), []);
    const rep = await report(ns[1].url, s.code);
    assert.equal([rep.accepted, rep.gaps], [2000, []]);
  }
  const dup = ups.reduce((n, u) => n + u.stats.duplicates, 0);
  assert.ok(failovers > 0, 'the balancer saw the killed node drop a request');
  console.log(`# killed node: ${failovers} requests failed over, ${dup} records answered duplicate on resend`);
  for (const s of stations) s.store.close();
});

it('PostgreSQL restarted mid-batch: the node answers 503, the uploader retries, nothing lost or duplicated', async () => {
  server ??= await startPostgres();
  const db = await server.createDatabase(`mn${++dbs}`);
  const s = station('ST21', 3000, `${dir}/ST21.db`);
  const [n] = await nodes(db, [s], 1);
  const up = uploader(s, n.url);
  up.start();
  await eventually(() => s.store.counts().acked >= 400, 60_000, 'upload under way');
  server.restart(); // pg_ctl restart -m fast: every connection is cut, in-flight transactions roll back
  await eventually(() => s.store.counts().pending === 0, 120_000, 'all acknowledged after the restart');
  assert.equal(await checkChain(db, s), []);
  const rep = await report(n.url, 'ST21');
  assert.equal([rep.accepted, rep.gaps], [3000, []]);
  assert.ok(up.stats.failures > 0, 'the restart was felt: at least one batch failed and was retried');
  console.log(`# restart: uploader stats ${JSON.stringify(up.stats)}`);
  s.store.close();
});

test.run();
