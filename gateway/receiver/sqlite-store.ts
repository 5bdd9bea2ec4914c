/**
 * The receiver's embedded store: one SQLite file (`--db rx.db`), so `fillgate receiver`
 * runs with nothing else installed. One writer: every commit is one synchronous
 * transaction (better-sqlite3), so no other request runs in between, and synchronous=FULL
 * makes an acknowledgement a promise that the records are kept.
 */
import { statSync } from 'node:fs';
import Database from '../sqlite.ts';
import type { FillRecordV1 } from '../records/record.ts';
import type { StationEventV1 } from '../records/event.ts';
import { byStation, emptyView, seqsNeeded, type ChainRow, type ChainView } from './chain.ts';
import { eventReportOf, type EventReport } from './events.ts';
import { keyFingerprint, normalPem, type KeyInfo } from './keys.ts';
import { SqliteReportSource } from './report-source.ts';
import type { ReportSource } from './reports.ts';
import { latestVersion, newerSchemaError, SQLITE_MIGRATIONS } from './migrations.ts';
import { ALL_TIME, BaseReceiverStore, type Chain, type DoctorReport, type Item, overviewReport, type OverviewRow, type ReceiverStoreOptions, type RecordResult, type StationReport } from './store.ts';

/**
 * The inspector's reports look a cylinder up across all stations: its code and the outcome
 * are columns beside the body. A database made before them gets them, filled once from the bodies.
 */
function addReportColumns(db: Database.Database): void {
  const cols = new Set((db.prepare('PRAGMA table_info(received)').all() as { name: string }[]).map((c) => c.name));
  if (!cols.has('cylinder')) {
    db.exec('ALTER TABLE received ADD COLUMN cylinder TEXT');
    db.exec("UPDATE received SET cylinder = json_extract(body, '$.cylinderCode')");
  }
  if (!cols.has('outcome')) {
    db.exec('ALTER TABLE received ADD COLUMN outcome TEXT');
    db.exec("UPDATE received SET outcome = json_extract(body, '$.outcome')");
  }
}

type Row = { seq: number; id: string; hash: string; prev_hash: string };
const toChainRow = (r: Row): ChainRow => ({ seq: r.seq, id: r.id, hash: r.hash, prevHash: r.prev_hash });

/**
 * The stored rows a batch is judged against: one index lookup per seq and per id (CROSS JOIN keeps
 * json_each outermost). The earlier `station = ? AND (seq IN … OR id IN …)` walked all of the
 * station's rows for every batch, so a 100,000-record catch-up slowed as it went, to 1,500
 * records/s (test/gateway/receiver/ingest-plan.test.ts). Parameters: seqs (JSON), station, ids (JSON), station.
 */
const viewRowsSql = (table: string) =>
  `SELECT r.seq, r.id, r.hash, r.prev_hash FROM json_each(?) j CROSS JOIN ${table} r ON r.station = ? AND r.seq = j.value
   UNION ALL
   SELECT r.seq, r.id, r.hash, r.prev_hash FROM json_each(?) j CROSS JOIN ${table} r ON r.station = ? AND r.id = j.value`;
/** Each candidate seq's floor (the stored row just below it). Parameters: seqs (JSON), station, station. */
const viewFloorsSql = (table: string) =>
  `SELECT j.value AS s, r.seq, r.id, r.hash, r.prev_hash FROM json_each(?) j LEFT JOIN ${table} r ON r.station = ? AND r.seq = (SELECT MAX(seq) FROM ${table} WHERE station = ? AND seq < j.value)`;

export class SqliteReceiverStore extends BaseReceiverStore {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;
  private stmts = new Map<string, Database.Statement>();
  private reports?: ReportSource;

  constructor(opts: ReceiverStoreOptions) {
    super(opts);
    this.db = new Database(opts.dbPath);
    if (opts.dbPath !== ':memory:') this.db.pragma('journal_mode = WAL');
    // An acknowledgement is a promise to keep the record: commit durably first.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
  }

  /** Prepared statements are compiled once (the ingest path runs per batch). */
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) this.stmts.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  schemaVersion(): number {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)');
    return (this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  }

  protected async migrate(): Promise<void> {
    const code = latestVersion(SQLITE_MIGRATIONS);
    const have = this.schemaVersion();
    if (have > code) throw newerSchemaError(have, code);
    for (const m of SQLITE_MIGRATIONS.filter((x) => x.version > have)) {
      this.db.transaction(() => {
        if (m.version === 3) addReportColumns(this.db);
        this.db.exec(m.sql);
        if (m.version === 2) {
          // Keys registered before rotation existed become each station's current key.
          for (const s of this.db.prepare('SELECT code, public_key, registered_ms FROM stations').all() as { code: string; public_key: string; registered_ms: number }[]) {
            this.db.prepare("INSERT OR IGNORE INTO station_keys (station, fp, public_key, added_ms, via) VALUES (?, ?, ?, ?, 'register')").run(s.code, keyFingerprint(s.public_key), normalPem(s.public_key), s.registered_ms);
          }
        }
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)').run(m.version, m.name, this.now());
      })();
    }
  }

  protected async loadKeys(stations?: string[]): Promise<KeyInfo[]> {
    const where = stations ? 'WHERE k.station IN (SELECT value FROM json_each(?))' : '';
    const rows = this.db
      .prepare(`SELECT k.station, k.fp, k.public_key, k.added_ms, k.revoked_after_ms, k.via, (s.public_key = k.public_key) AS current
        FROM station_keys k LEFT JOIN stations s ON s.code = k.station ${where} ORDER BY k.station, current DESC, k.added_ms DESC`)
      .all(...(stations ? [JSON.stringify(stations)] : [])) as { station: string; fp: string; public_key: string; added_ms: number; revoked_after_ms: number | null; via: KeyInfo['via'] }[];
    return rows.map((r) => ({ station: r.station, fp: r.fp, pem: r.public_key, addedMs: r.added_ms, revokedAfterMs: r.revoked_after_ms ?? undefined, via: r.via }));
  }

  protected async saveKey(k: KeyInfo, current: boolean): Promise<void> {
    this.db.transaction(() => {
      this.stmt('INSERT INTO station_keys (station, fp, public_key, added_ms, via) VALUES (?, ?, ?, ?, ?) ON CONFLICT(station, fp) DO NOTHING').run(k.station, k.fp, k.pem, k.addedMs, k.via);
      if (current) this.stmt('INSERT INTO stations (code, public_key, registered_ms) VALUES (?, ?, ?) ON CONFLICT(code) DO UPDATE SET public_key = excluded.public_key').run(k.station, k.pem, k.addedMs);
    })();
  }

  protected async setRevoked(station: string, fp: string, afterMs: number | null): Promise<void> {
    this.stmt('UPDATE station_keys SET revoked_after_ms = ? WHERE station = ? AND fp = ?').run(afterMs, station, fp);
  }

  /** The stored rows a station's batch needs: at each seq and seq+1, at each id, and each seq's floor. */
  private loadView(table: string, station: string, cands: { seq: number; id: string }[]): ChainView {
    const view = emptyView();
    const seqs = JSON.stringify(seqsNeeded(cands));
    const wanted = new Set(cands.map((c) => c.id));
    const ids = JSON.stringify([...wanted]);
    const rows = this.stmt(viewRowsSql(table)).all(seqs, station, ids, station) as Row[];
    for (const r of rows) {
      const row = toChainRow(r);
      if (wanted.has(r.id)) view.byId.set(r.id, row);
      view.bySeq.set(r.seq, row);
    }
    const floors = this.stmt(viewFloorsSql(table)).all(JSON.stringify(cands.map((c) => c.seq)), station, station) as (Row & { s: number })[];
    for (const f of floors) view.floor.set(f.s, f.seq === null ? undefined : toChainRow(f));
    return view;
  }

  protected async commit(chain: Chain, items: Item[]): Promise<RecordResult[]> {
    const table = chain === 'records' ? 'received' : 'received_events';
    const rejTable = chain === 'records' ? 'rejections' : 'event_rejections';
    const insert =
      chain === 'records'
        ? this.stmt('INSERT INTO received (station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body, cylinder, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        : this.stmt('INSERT INTO received_events (station, seq, id, hash, prev_hash, kind, recorded_ms, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const reject = this.stmt(`INSERT INTO ${rejTable} (station, id, seq, reason, message, at_ms) VALUES (?, ?, ?, ?, ?, ?)`);
    return this.db.transaction(() => {
      const results: RecordResult[] = new Array(items.length);
      for (const [station, group] of byStation(items.map((i) => ({ ...i, station: i.ok ? i.cand.station : i.station })))) {
        const cands = group.flatMap((g) => (g.item.ok ? [g.item.cand] : []));
        const view = cands.length > 0 ? this.loadView(table, station, cands) : emptyView();
        const j = this.judge(chain, group.map((g) => ({ item: g.item as Item, index: g.index })), view);
        const now = this.now();
        for (const { item } of j.inserts) {
          const c = item.cand;
          if (chain === 'records') insert.run(c.station, c.seq, c.id, c.hash, c.prevHash, c.recordedMs, now, Math.max(0, now - c.recordedMs), item.body, item.cylinder ?? null, item.outcome ?? null);
          else insert.run(c.station, c.seq, c.id, c.hash, c.prevHash, item.kind ?? '', c.recordedMs, now, item.body);
        }
        for (const r of j.rejections) reject.run(r.station ?? null, r.result.id, r.result.seq ?? null, r.result.reason ?? '', r.result.message ?? '', now);
        for (const v of j.verdicts) results[v.index] = v.result;
      }
      return results;
    })();
  }

  async stationCodes(): Promise<string[]> {
    const rows = this.stmt('SELECT code FROM stations UNION SELECT DISTINCT station FROM received ORDER BY 1').all() as { code: string }[];
    return rows.map((r) => r.code);
  }

  async report(station: string): Promise<StationReport> {
    const s = this.stmt('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, SUM(lag_ms > ?) AS late, MAX(lag_ms) AS maxLag, MAX(received_ms) AS lastRx FROM received WHERE station = ?')
      .get(this.lateAfterMs, station) as { n: number; first: number | null; last: number | null; late: number | null; maxLag: number | null; lastRx: number | null };
    const lastRow = s.last === null ? undefined : (this.stmt('SELECT body FROM received WHERE station = ? AND seq = ?').get(station, s.last) as { body: string });
    const gaps = this.gaps('received', station);
    const rejected = (this.stmt('SELECT COUNT(*) AS n FROM rejections WHERE station = ?').get(station) as { n: number }).n;
    const lastat = lastRow ? (JSON.parse(lastRow.body) as FillRecordV1).recordedAt : null;
    return overviewReport({ code: station, n: s.n, first: s.first, last: s.last, late: s.late, maxlag: s.maxLag, lastrx: s.lastRx, lastat, gaps: JSON.stringify(gaps), rejected });
  }

  /**
   * Every station's report in one grouped query (the /reports index of 1,000 stations ran 4
   * queries per station): the same figures as `report()`, through the same builder.
   */
  async stationReports(): Promise<StationReport[]> {
    const rows = this.stmt(
      `WITH codes AS (SELECT code FROM stations UNION SELECT DISTINCT station FROM received),
            s AS (SELECT station, COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, SUM(lag_ms > ?) AS late, MAX(lag_ms) AS maxlag, MAX(received_ms) AS lastrx FROM received GROUP BY station),
            g AS (SELECT station, json_group_array(json_object('from', prev + 1, 'to', seq - 1)) AS gaps
                    FROM (SELECT station, seq, LAG(seq, 1, 0) OVER (PARTITION BY station ORDER BY seq) AS prev FROM received) WHERE seq > prev + 1 GROUP BY station),
            rj AS (SELECT station, COUNT(*) AS n FROM rejections GROUP BY station)
       SELECT c.code, s.n, s.first, s.last, s.late, s.maxlag, s.lastrx, g.gaps, rj.n AS rejected,
              (SELECT json_extract(body, '$.recordedAt') FROM received r WHERE r.station = c.code AND r.seq = s.last) AS lastat
         FROM codes c LEFT JOIN s ON s.station = c.code LEFT JOIN g ON g.station = c.code LEFT JOIN rj ON rj.station = c.code ORDER BY c.code`,
    ).all(this.lateAfterMs) as OverviewRow[];
    return rows.map(overviewReport);
  }

  private gaps(table: string, station: string): { from: number; to: number }[] {
    return this.stmt(`SELECT prev + 1 AS "from", seq - 1 AS "to" FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev FROM ${table} WHERE station = ?) WHERE seq > prev + 1`).all(station) as { from: number; to: number }[];
  }

  async records(station: string, fromMs = ALL_TIME.from, toMs = ALL_TIME.to): Promise<FillRecordV1[]> {
    const rows = this.stmt('SELECT body FROM received WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? ORDER BY seq').all(station, fromMs, toMs) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as FillRecordV1);
  }

  async eventReport(station: string): Promise<EventReport> {
    const s = this.stmt('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last FROM received_events WHERE station = ?').get(station) as { n: number; first: number | null; last: number | null };
    const lastRow = s.last === null ? undefined : (this.stmt('SELECT body FROM received_events WHERE station = ? AND seq = ?').get(station, s.last) as { body: string });
    const gaps = this.gaps('received_events', station);
    const rejected = (this.stmt('SELECT COUNT(*) AS n FROM event_rejections WHERE station = ?').get(station) as { n: number }).n;
    const kinds = this.stmt('SELECT kind, COUNT(*) AS n FROM received_events WHERE station = ? GROUP BY kind ORDER BY kind').all(station) as { kind: string; n: number }[];
    return eventReportOf(station, s, lastRow?.body, gaps, rejected, kinds);
  }

  async events(station: string, fromMs = ALL_TIME.from, toMs = ALL_TIME.to, kind?: string): Promise<StationEventV1[]> {
    const rows = this.stmt('SELECT body FROM received_events WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? AND (? IS NULL OR kind = ?) ORDER BY seq').all(station, fromMs, toMs, kind ?? null, kind ?? null) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as StationEventV1);
  }

  async check(): Promise<void> {
    this.stmt('SELECT 1').get();
  }

  async doctor(): Promise<DoctorReport> {
    const problems: string[] = [];
    const version = this.schemaVersion();
    const code = latestVersion(SQLITE_MIGRATIONS);
    if (version !== code) problems.push(`schema version ${version}, the code's is ${code}`);
    const integrity = (this.db.pragma('quick_check') as { quick_check: string }[])[0]?.quick_check;
    if (integrity !== 'ok') problems.push(`quick_check: ${integrity}`);
    const last = this.db.prepare('SELECT station, MAX(received_ms) AS rx FROM received GROUP BY station').all() as { station: string; rx: number }[];
    const now = this.now();
    const silent = last.filter((l) => now - l.rx > 86_400_000).map((l) => l.station);
    const records = (this.db.prepare('SELECT COUNT(*) AS n FROM received').get() as { n: number }).n;
    const stations = (this.db.prepare('SELECT COUNT(*) AS n FROM stations').get() as { n: number }).n;
    if (this.opts.dbPath !== ':memory:') {
      try {
        statSync(this.opts.dbPath);
      } catch {
        problems.push(`${this.opts.dbPath} is not there`);
      }
    }
    return {
      store: 'sqlite',
      schemaVersion: version,
      codeSchemaVersion: code,
      server: `SQLite ${(this.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v}`,
      lastReceivedAgeS: last.length ? Math.round((now - Math.min(...last.map((l) => l.rx))) / 1000) : undefined,
      silentStations: silent,
      stations,
      records,
      problems,
    };
  }

  reportSource(): ReportSource {
    return (this.reports ??= new SqliteReportSource(this.db, this.lateAfterMs));
  }

  protected async closeDb(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
