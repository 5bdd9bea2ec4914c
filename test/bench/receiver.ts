/**
 * Receiver at province scale (issue 11 point 4): a load generator playing N stations, each
 * with its own key and chain, uploading their backlogs in NDJSON batches through K receiver
 * nodes (separate processes), measured end to end (signature and chain verified, committed,
 * answered):
 *   - records/s for SQLite with 1 node, PostgreSQL with 1 node and with 2 nodes;
 *   - p50/p99 acknowledgement latency per batch;
 *   - the CPU split: receiver processes (of which signature verification, from its measured
 *     per-record cost) against the PostgreSQL server processes;
 *   - 1,000 stations uploading at once through 2 nodes: 0 lost, 0 duplicated, chains checked;
 *   - the inspector's reports (a month of 1,000 stations, generated) on PostgreSQL, each timed.
 * The load generator runs on the same 2 cores as the nodes and the database: the figures are
 * for this machine under its current load (printed with them), to be read as orders of size.
 * Run: `node --import tsx test/bench/receiver.ts [--stations 20] [--records 1000] [--crowd 1000] [--json]`
 */
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { openReceiverStore } from '../../gateway/receiver/store.ts';
import { alarmsReport, cylinderReport, exceptionsReport, personsReport, summaryReport } from '../../gateway/receiver/reports.ts';
import { prepareLine } from '../../gateway/receiver/prepare.ts';
import { keyFingerprint } from '../../gateway/receiver/keys.ts';
import { RecordStore } from '../../gateway/records/store.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { INITDB, startPostgres, type TestPostgres } from '../fixtures/postgres.ts';
import { makeAttempt, makeKeys, tempDir, type Keys } from '../gateway/records/fixtures.ts';
import { kill, spawnReceiver } from '../gateway/sync/helpers/rx-proc.ts';
import { existsSync } from 'node:fs';

interface Station {
  code: string;
  keys: Keys;
  lines: string[];
}

export interface RunResult {
  store: string;
  nodes: number;
  records: number;
  seconds: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  cpu: { receiverS: number; verifyS: number; postgresS: number };
  lost: number;
  duplicated: number;
}

function stations(n: number, records: number, prefix: string): Station[] {
  const out: Station[] = [];
  for (let s = 0; s < n; s++) {
    const keys = makeKeys();
    const code = `${prefix}${String(s + 1).padStart(4, '0')}`;
    const clock = new ManualClock(0, Date.UTC(2026, 10, 1) + s * 1000);
    const store = new RecordStore({ db: ':memory:', clock, station: code, privateKey: keys.privateKey, config: { utcOffsetMinutes: 480 } });
    const lines: string[] = [];
    for (let i = 0; i < records; i += 500) {
      const batch = Array.from({ length: Math.min(500, records - i) }, (_, k) => makeAttempt(i + k + 1, { station: code }));
      for (const r of store.appendMany(batch)) lines.push(JSON.stringify(r));
      clock.advance(3_600_000);
    }
    store.close();
    out.push({ code, keys, lines });
  }
  return out;
}

/** utime+stime (s) of a process and its threads; with `children`, also its waited-for children. */
function cpuOf(pid: number, children = false): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const t = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    return t / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by a PostgreSQL server: the postmaster, its exited children, its live ones. */
function postgresCpu(server: TestPostgres | undefined): number {
  if (!server) return 0;
  const pm = Number(readFileSync(`${server.dir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
  let total = cpuOf(pm, true);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[1]) === pm) total += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      /* gone */
    }
  }
  return total;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : 0;
};

/** Per-record cost of what the verify workers do (parse, canonical bytes, SHA-256, Ed25519), one thread. */
function verifyCostMs(sample: Station): number {
  const keys = [{ fp: keyFingerprint(sample.keys.publicKeyPem), key: sample.keys.publicKey }];
  const lines = sample.lines.slice(0, 2000);
  const t = performance.now();
  for (const l of lines) prepareLine(l, () => keys);
  return (performance.now() - t) / lines.length;
}

async function register(db: string, sts: Station[]): Promise<void> {
  const store = await openReceiverStore({ dbPath: db, verifyThreads: 0 });
  for (const s of sts) await store.registerStation(s.code, s.keys.publicKeyPem);
  await store.close();
}

/** Every station uploads its backlog in batches of `batch`, one batch in flight per station, station i through node i mod K. */
async function upload(urls: string[], sts: Station[], batch: number): Promise<{ latencies: number[]; answers: Map<string, number>; seconds: number }> {
  const latencies: number[] = [];
  const answers = new Map<string, number>();
  const t0 = performance.now();
  await Promise.all(
    sts.map(async (s, i) => {
      const url = `${urls[i % urls.length]}/v1/records`;
      for (let at = 0; at < s.lines.length; ) {
        const lines = s.lines.slice(at, at + batch);
        const t = performance.now();
        let res: Response;
        try {
          res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') + '\n' });
        } catch {
          await new Promise((r) => setTimeout(r, 100));
          continue; // the station's uploader would retry the same batch
        }
        if (res.status !== 200) {
          await res.text();
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const body = (await res.json()) as { results: { status: string; seq: number }[] };
        latencies.push(performance.now() - t);
        for (const r of body.results) if (r.status === 'accepted') answers.set(`${s.code}/${r.seq}`, (answers.get(`${s.code}/${r.seq}`) ?? 0) + 1);
        at += lines.length;
      }
    }),
  );
  return { latencies, answers, seconds: (performance.now() - t0) / 1000 };
}

/** Rows held per station, straight from the database (either store). */
async function held(db: string): Promise<Map<string, { n: number; max: number }>> {
  const out = new Map<string, { n: number; max: number }>();
  if (db.startsWith('postgres')) {
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    for (const r of (await c.query<{ station: string; n: string; max: string }>('SELECT station, COUNT(*) AS n, MAX(seq) AS max FROM received GROUP BY station')).rows) out.set(r.station, { n: Number(r.n), max: Number(r.max) });
    await c.end();
  } else {
    const { default: Database } = await import('../../gateway/sqlite.ts');
    const d = new Database(db, { readonly: true });
    for (const r of d.prepare('SELECT station, COUNT(*) AS n, MAX(seq) AS max FROM received GROUP BY station').all() as { station: string; n: number; max: number }[]) out.set(r.station, { n: r.n, max: r.max });
    d.close();
  }
  return out;
}

async function runOne(label: string, db: string, sts: Station[], k: number, threads: number, verifyMs: number, server: TestPostgres | undefined, batch = 200): Promise<RunResult> {
  await register(db, sts);
  const nodes = [];
  for (let i = 0; i < k; i++) nodes.push(await spawnReceiver(['--db', db, '--threads', String(threads), '--pool', '8', '--node-name', `n${i + 1}`]));
  try {
    const cpu0 = nodes.reduce((s, n) => s + cpuOf(n.child.pid!), 0);
    const pg0 = postgresCpu(server);
    const up = await upload(
      nodes.map((n) => n.url),
      sts,
      batch,
    );
    const receiverS = nodes.reduce((s, n) => s + cpuOf(n.child.pid!), 0) - cpu0;
    const postgresS = postgresCpu(server) - pg0;
    const records = sts.reduce((n, s) => n + s.lines.length, 0);
    const h = await held(db);
    let lost = 0;
    let duplicated = 0;
    for (const s of sts) {
      const got = h.get(s.code) ?? { n: 0, max: 0 };
      lost += Math.max(0, s.lines.length - got.n);
      duplicated += Math.max(0, got.n - s.lines.length);
    }
    for (const v of up.answers.values()) if (v > 1) duplicated += v - 1;
    return { store: label, nodes: k, records, seconds: up.seconds, perSec: records / up.seconds, p50Ms: pct(up.latencies, 50), p99Ms: pct(up.latencies, 99), cpu: { receiverS, verifyS: (records * verifyMs) / 1000, postgresS }, lost, duplicated };
  } finally {
    for (const n of nodes) await kill(n.child);
  }
}

/**
 * The inspector's reports (reports.ts) on PostgreSQL over a month of `n` stations: generated rows
 * straight into `received` (bodies are one real record with its cylinder code, outcome and time
 * rewritten, so they do not verify, which the reports do not check), then each report through the
 * store's own PgReportSource, as the /reports pages run them, timed.
 */
async function inspectorReports(server: TestPostgres, sample: Station, n: number, perStation: number): Promise<InspectorFigures> {
  const db = await server.createDatabase('inspector');
  const store = await openReceiverStore({ dbPath: db, verifyThreads: 0, now: () => Date.UTC(2026, 11, 1) });
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  try {
    const month = Date.UTC(2026, 10, 1);
    const t0 = performance.now();
    await c.query("INSERT INTO stations (code, public_key, registered_ms) SELECT 'ST' || lpad(s::text, 4, '0'), 'generated', $1 FROM generate_series(1, $2::int) s", [month, n]);
    // Codes drawn from a pool of 50 per station, so a code is filled at a few stations a month; every
    // 100th fill a code shared by two neighbour stations a second apart (what the cross-station check
    // must find); 1 in 40 overfilled; times spread over the month.
    await c.query(
      `INSERT INTO received (station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body, cylinder, outcome)
       SELECT st, q, 'att-' || q, md5(s || '/' || q), md5(s || '/' || (q - 1)), t, t + 5000, 5000,
              regexp_replace(regexp_replace($2, '"cylinderCode":"[^"]*"', '"cylinderCode":"' || cyl || '"'), '"outcome":"[^"]*"', '"outcome":"' || oc || '"'), cyl, oc
         FROM (SELECT s, q, 'ST' || lpad(s::text, 4, '0') AS st, $1 + ((q * 2592000000::bigint) / ($3::int + 1)) + s * 997 AS t,
                      CASE WHEN q % 100 = 0 THEN 'P' || (s / 2) || '-' || q ELSE 'C' || ((s * 7919 + q * 104729) % ($4::int * 50)) END AS cyl,
                      CASE WHEN q % 40 = 0 THEN 'overfilled' ELSE 'filled' END AS oc
                 FROM generate_series(1, $4::int) s, generate_series(1, $3::int) q) g`,
      [month, sample.lines[0], perStation, n],
    );
    await c.query('ANALYZE');
    const loadS = (performance.now() - t0) / 1000;
    const src = store.reportSource();
    const q = { station: `ST${String(Math.ceil(n / 2)).padStart(4, '0')}`, fromMs: month, toMs: Date.UTC(2026, 11, 1) };
    const code = (await c.query<{ c: string }>("SELECT cylinder AS c FROM received WHERE station = $1 LIMIT 1", [q.station])).rows[0].c;
    const ms: Record<string, number> = {};
    const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const v = await fn();
      ms[name] = performance.now() - t;
      return v;
    };
    await time('summary', () => summaryReport(src, q));
    const exc = await time('exceptions', () => exceptionsReport(src, q));
    await time('persons', () => personsReport(src, q));
    await time('alarms', () => alarmsReport(src, q));
    const cyl = await time('cylinder', () => cylinderReport(src, code, { fromMs: q.fromMs, toMs: q.toMs }));
    await time('stationList', () => src.stationList());
    // The /reports index page: every station's report (counts, gaps, late, rejected), 1,000 of them, in one grouped query.
    const overview = await time('allStationsOverview', () => store.stationReports());
    if (overview.length !== n || overview.some((s) => s.accepted !== perStation)) throw new Error('the overview does not count every station');
    const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT seq FROM received r WHERE r.cylinder = $1 AND recorded_ms >= $2 AND recorded_ms < $3`, [code, q.fromMs, q.toMs])).rows.map((r) => r['QUERY PLAN']).join('\n');
    return { rows: n * perStation, stations: n, loadS, ms, filledElsewhere: exc.counts.filled_elsewhere, cylinderRows: cyl.history.length, cylinderIndexUsed: /Index|Bitmap/.test(plan) && /cylinder/.test(plan) };
  } finally {
    await c.end();
    await store.close();
  }
}

interface InspectorFigures {
  rows: number;
  stations: number;
  loadS: number;
  ms: Record<string, number>;
  filledElsewhere: number;
  cylinderRows: number;
  cylinderIndexUsed: boolean;
}

export async function run(opts: { stations?: number; records?: number; crowd?: number; crowdRecords?: number; inspectorPerStation?: number; print?: boolean } = {}) {
  const log = opts.print === false ? () => undefined : console.log;
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const nSt = opts.stations ?? 20;
  const nRec = opts.records ?? 1000;
  log(`receiver: ${nSt} stations × ${nRec} records, batches of 200, one batch in flight per station; load average at start ${load} (2 cores)`);
  const sts = stations(nSt, nRec, 'ST');
  const verifyMs = verifyCostMs(sts[0]);
  log(`  verification alone (parse + canonical + SHA-256 + Ed25519), one thread: ${(1000 / verifyMs).toFixed(0)} records/s per core`);
  const { dir, cleanup } = tempDir('fillgate-rxbench-');
  const havePg = existsSync(INITDB);
  const server = havePg ? await startPostgres() : undefined;
  const results: RunResult[] = [];
  try {
    results.push(await runOne('sqlite', `${dir}/rx.db`, sts, 1, 2, verifyMs, undefined));
    if (server) {
      results.push(await runOne('postgres', await server.createDatabase('b1'), sts, 1, 2, verifyMs, server));
      results.push(await runOne('postgres', await server.createDatabase('b2'), sts, 2, 1, verifyMs, server));
    }
    for (const r of results) {
      log(
        `  ${r.store.padEnd(8)} ${r.nodes} node${r.nodes > 1 ? 's' : ' '}  ${r.perSec.toFixed(0).padStart(6)} records/s  ack p50 ${r.p50Ms.toFixed(0).padStart(4)} ms  p99 ${r.p99Ms.toFixed(0).padStart(5)} ms  ` +
          `CPU: receivers ${r.cpu.receiverS.toFixed(1)} s (verification ~${r.cpu.verifyS.toFixed(1)} s), PostgreSQL ${r.cpu.postgresS.toFixed(1)} s  lost ${r.lost} duplicated ${r.duplicated}`,
      );
    }
    const lite = results.find((r) => r.store === 'sqlite')!;
    const pg2 = results.find((r) => r.store === 'postgres' && r.nodes === 2);
    if (pg2) log(`  goal: PostgreSQL 2 nodes within 20 % of the SQLite node: ${((pg2.perSec / lite.perSec) * 100).toFixed(0)} % of its rate: ${pg2.perSec >= lite.perSec * 0.8 ? 'met' : 'NOT met'}`);
    if (pg2) {
      const cpuPerRec = (pg2.cpu.receiverS + pg2.cpu.postgresS) / pg2.records;
      log(`  per core (PostgreSQL, receivers + database CPU): ~${(1 / cpuPerRec).toFixed(0)} records/s per fully used core`);
    }
    let crowd: RunResult | undefined;
    if (server && opts.crowd !== 0) {
      const n = opts.crowd ?? 1000;
      const per = opts.crowdRecords ?? 20;
      const many = stations(n, per, 'CR');
      crowd = await runOne('postgres', await server.createDatabase('crowd'), many, 2, 1, verifyMs, server, 50);
      log(`  ${n} stations at once (${per} records each, 2 nodes): ${crowd.perSec.toFixed(0)} records/s, p99 ${crowd.p99Ms.toFixed(0)} ms, lost ${crowd.lost}, duplicated ${crowd.duplicated}`);
    }
    let inspector: InspectorFigures | undefined;
    if (server && opts.inspectorPerStation !== 0) {
      const per = opts.inspectorPerStation ?? 300;
      inspector = await inspectorReports(server, sts[0], 1000, per);
      const worst = Math.max(...Object.values(inspector.ms));
      log(
        `  inspector's reports on PostgreSQL, one month of ${inspector.stations} stations (${inspector.rows} generated rows, loaded in ${inspector.loadS.toFixed(0)} s), one station's month: ` +
          Object.entries(inspector.ms).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ') +
          `; ${inspector.filledElsewhere} filled elsewhere, cylinder history ${inspector.cylinderRows} rows across stations (cylinder index used: ${inspector.cylinderIndexUsed ? 'yes' : 'NO'}); goal each < 2,000 ms: ${worst < 2000 ? 'met' : 'NOT met'}`,
      );
    }
    log(`  load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    return { loadAtStart: load, verifyPerCore: 1000 / verifyMs, results, crowd, inspector };
  } finally {
    await server?.stop();
    cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const json = process.argv.includes('--json');
  const r = await run({ stations: arg('stations'), records: arg('records'), crowd: arg('crowd'), crowdRecords: arg('crowd-records'), inspectorPerStation: arg('inspector-per-station'), print: !json });
  if (json) console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
