/**
 * The receiver on PostgreSQL (`--db postgres://…`): any number of stateless nodes on one
 * database (issue 11 points 1, 2, 5).
 *
 * - Exactly once across nodes: every commit takes a transaction-scoped advisory lock per
 *   station (records and events separately), then reads the rows around the batch, decides
 *   (chain.ts) and inserts with `ON CONFLICT DO NOTHING`. Two nodes with the same station's
 *   batches queue on the lock, and the second sees what the first committed: one copy, a
 *   verified chain, the gaps right. The keys (PK (station, seq), UNIQUE (station, id)) are
 *   the last line: a row that still met a conflict is answered duplicate or CONFLICT.
 * - `received` is partitioned by month of `recorded_ms` (`received_yYYYYmMM`, a default
 *   partition for dates outside any month made); its keys live in `received_index`.
 *   Partitions are made ahead (this month and the next two) and on demand for backlogs;
 *   `retainMonths` (≥ 24) drops whole months past retention.
 * - 4 round trips per single-station chunk of up to 250 records (pg-ingest.ts): BEGIN with
 *   the lock, the rows around the chunk, one statement for all its writes, COMMIT.
 */
import pg from 'pg';
import type { FillRecordV1 } from '../records/record.ts';
import type { StationEventV1 } from '../records/event.ts';
import { byStation, emptyView } from './chain.ts';
import { beginLocked, loadView, writeChunk, type Insert, type Rejection } from './pg-ingest.ts';
import { eventReportOf, type EventReport } from './events.ts';
import type { KeyInfo } from './keys.ts';
import { PgReportSource } from './pg-report-source.ts';
import type { ReportSource } from './reports.ts';
import { latestVersion, newerSchemaError, PG_MIGRATIONS } from './migrations.ts';
import { ALL_TIME, BaseReceiverStore, type Chain, type DoctorReport, type Item, overviewReport, type OverviewRow, type ReceiverStoreOptions, type RecordResult, type StationReport } from './store.ts';

/** BIGINT (int8) and COUNT come back as JS numbers: every value here is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

const MIGRATION_LOCK = 0x66696c6c; // "fill"
const PARTITION_LOCK = 0x70617274; // "part"
const MIN_RETAIN_MONTHS = 24;


/** Month index (years*12 + month) of an instant, UTC; and its bounds in ms. */
const monthOf = (ms: number): number => {
  const d = new Date(ms);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
};
const monthStart = (m: number): number => Date.UTC(Math.floor(m / 12), m % 12, 1);
const partitionName = (m: number): string => `received_y${Math.floor(m / 12)}m${String((m % 12) + 1).padStart(2, '0')}`;

export class PgReceiverStore extends BaseReceiverStore {
  readonly kind = 'postgres' as const;
  readonly pg: pg.Pool;
  private months = new Set<number>();
  private lastPrune = 0;
  private reports?: ReportSource;

  constructor(opts: ReceiverStoreOptions) {
    super(opts);
    if (opts.retainMonths !== undefined && opts.retainMonths < MIN_RETAIN_MONTHS) throw new Error(`retainMonths must be at least ${MIN_RETAIN_MONTHS} (records are kept 2 years)`);
    this.pg = new pg.Pool({
      connectionString: opts.dbPath,
      max: opts.poolSize ?? 10,
      types,
      application_name: `fillgate-receiver-${process.pid}`,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client whose server went away (restart, failover) errors here; the pool drops it
    // and the next query connects again. Without a listener that error would end the process.
    this.pg.on('error', () => undefined);
  }

  /**
   * A pooled client for a transaction. pg-pool takes its own error listener off a client while it
   * is checked out, so a connection cut between two statements (PostgreSQL restarted or failed
   * over while the batch was being verified) was an unhandled 'error' that ended the node. Keep a
   * listener on until release, and hand the error to the pool then, so that client is dropped.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const c = await this.pg.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    c.on('error', onError);
    const release = c.release;
    c.release = (err?: Error | boolean) => {
      c.removeListener('error', onError);
      c.release = release;
      release(err ?? broken);
    };
    return c;
  }

  async schemaVersion(): Promise<number> {
    const r = await this.pg.query<{ v: number | null }>("SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE (SELECT MAX(version) FROM schema_migrations) END AS v");
    return r.rows[0].v ?? 0;
  }

  protected async migrate(): Promise<void> {
    const code = latestVersion(PG_MIGRATIONS);
    const c = await this.checkout();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)');
      const have = (await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0].v ?? 0;
      if (have > code) throw newerSchemaError(have, code);
      for (const m of PG_MIGRATIONS.filter((x) => x.version > have)) {
        await c.query('BEGIN');
        try {
          await c.query(m.sql);
          await c.query('INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)', [m.version, m.name, this.now()]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      c.release();
    }
    await this.loadMonths();
    const m = monthOf(this.now());
    await this.ensureMonths([m, m + 1, m + 2]);
    await this.prune();
  }

  private async loadMonths(): Promise<void> {
    const r = await this.pg.query<{ name: string }>("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'received'::regclass");
    for (const { name } of r.rows) {
      const m = /^received_y(\d{4})m(\d{2})$/.exec(name);
      if (m) this.months.add(Number(m[1]) * 12 + Number(m[2]) - 1);
    }
  }

  /** Make the monthly partitions of `months` that do not exist yet (within 5 years back, 1 ahead; others go to the default partition). */
  private async ensureMonths(months: number[]): Promise<void> {
    const now = monthOf(this.now());
    const want = [...new Set(months)].filter((m) => !this.months.has(m) && m >= now - 60 && m <= now + 2);
    if (want.length === 0) return;
    const c = await this.checkout();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const m of want) {
        await c.query(`CREATE TABLE IF NOT EXISTS ${partitionName(m)} PARTITION OF received FOR VALUES FROM (${monthStart(m)}) TO (${monthStart(m + 1)})`);
      }
      await c.query('COMMIT');
      for (const m of want) this.months.add(m);
    } catch {
      // e.g. the default partition already holds rows of that month: they stay there, still found.
      await c.query('ROLLBACK').catch(() => undefined);
      for (const m of want) this.months.add(m);
    } finally {
      c.release();
    }
  }

  /** Drop the monthly partitions wholly older than `retainMonths` (checked at start and daily). */
  async prune(): Promise<string[]> {
    if (this.opts.retainMonths === undefined) return [];
    this.lastPrune = this.now();
    const cutoff = monthOf(this.now()) - this.opts.retainMonths;
    const old = [...this.months].filter((m) => m < cutoff).sort((a, b) => a - b);
    const c = await this.checkout();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const m of old) await c.query(`DROP TABLE IF EXISTS ${partitionName(m)}`);
      // The chain keys of the dropped months go too, except each station's newest (its tip, for the next record's link).
      // The gap report then starts after the pruned seqs (stations.pruned_before_seq).
      await c.query(
        `WITH d AS (DELETE FROM received_index i WHERE recorded_ms < $1 AND seq < (SELECT MAX(seq) FROM received_index j WHERE j.station = i.station) RETURNING station, seq)
         UPDATE stations s SET pruned_before_seq = GREATEST(COALESCE(s.pruned_before_seq, 0), m.top + 1) FROM (SELECT station, MAX(seq) AS top FROM d GROUP BY station) m WHERE s.code = m.station`,
        [monthStart(cutoff)],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    for (const m of old) this.months.delete(m);
    return old.map(partitionName);
  }

  protected async loadKeys(stations?: string[]): Promise<KeyInfo[]> {
    const r = await this.pg.query<{ station: string; fp: string; public_key: string; added_ms: number; revoked_after_ms: number | null; via: KeyInfo['via'] }>(
      `SELECT k.station, k.fp, k.public_key, k.added_ms, k.revoked_after_ms, k.via
         FROM station_keys k LEFT JOIN stations s ON s.code = k.station
        WHERE $1::text[] IS NULL OR k.station = ANY($1)
        ORDER BY k.station, (s.public_key = k.public_key) DESC, k.added_ms DESC`,
      [stations ?? null],
    );
    return r.rows.map((x) => ({ station: x.station, fp: x.fp, pem: x.public_key, addedMs: x.added_ms, revokedAfterMs: x.revoked_after_ms ?? undefined, via: x.via }));
  }

  protected async saveKey(k: KeyInfo, current: boolean): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO station_keys (station, fp, public_key, added_ms, via) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (station, fp) DO NOTHING', [k.station, k.fp, k.pem, k.addedMs, k.via]);
      if (current) await c.query('INSERT INTO stations (code, public_key, registered_ms) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET public_key = excluded.public_key', [k.station, k.pem, k.addedMs]);
    });
  }

  protected async setRevoked(station: string, fp: string, afterMs: number | null): Promise<void> {
    await this.pg.query('UPDATE station_keys SET revoked_after_ms = $1 WHERE station = $2 AND fp = $3', [afterMs, station, fp]);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.checkout();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  protected async commit(chain: Chain, items: Item[]): Promise<RecordResult[]> {
    const keyTable = chain === 'records' ? 'received_index' : 'received_events';
    if (chain === 'records') {
      await this.ensureMonths(items.flatMap((i) => (i.ok ? [monthOf(i.cand.recordedMs)] : [])));
      if (this.opts.retainMonths !== undefined && this.now() - this.lastPrune > 86_400_000) await this.prune();
    }
    const groups = byStation(items.map((i) => ({ ...i, station: i.ok ? i.cand.station : i.station })));
    const locked = [...groups].filter(([, g]) => g.some((x) => x.item.ok)).map(([station]) => station);
    const c = await this.checkout();
    try {
      // Round trips (pg-ingest.ts): BEGIN with the locks, a view per station, one write, COMMIT.
      await beginLocked(c, chain, locked);
      const results: RecordResult[] = new Array(items.length);
      const inserts: Insert[] = [];
      const rejections: Rejection[] = [];
      for (const [station, group] of groups) {
        const cands = group.flatMap((g) => (g.item.ok ? [g.item.cand] : []));
        const view = cands.length > 0 ? await loadView(c, keyTable, station, cands) : emptyView();
        const j = this.judge(chain, group.map((g) => ({ item: g.item as Item, index: g.index })), view);
        inserts.push(...j.inserts);
        rejections.push(...j.rejections);
        for (const v of j.verdicts) results[v.index] = v.result;
      }
      if (inserts.length > 0 || rejections.length > 0) {
        const kept = await writeChunk(c, chain, inserts, rejections, this.now());
        if (kept.length < inserts.length) await this.settleConflicts(c, keyTable, inserts, kept, results);
      }
      await c.query('COMMIT');
      return results;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** A row the keys refused although the chain check let it through (not under the lock): duplicate if identical, else CONFLICT. */
  private async settleConflicts(c: pg.PoolClient, table: string, inserts: Insert[], kept: { station: string; seq: number }[], results: RecordResult[]): Promise<void> {
    const ok = new Set(kept.map((k) => `${k.station}\n${k.seq}`));
    for (const { item, index } of inserts) {
      const x = item.cand;
      if (ok.has(`${x.station}\n${x.seq}`)) continue;
      const r = await c.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${table} WHERE station = $1 AND (id = $2 OR seq = $3)`, [x.station, x.id, x.seq]);
      const same = r.rows.some((y) => y.seq === x.seq && y.hash === x.hash);
      results[index] = same ? { id: x.id, seq: x.seq, status: 'duplicate' } : { id: x.id, seq: x.seq, status: 'rejected', reason: 'CONFLICT', message: `seq ${x.seq} or id ${x.id} was taken at the same moment by other content` };
    }
  }

  async stationCodes(): Promise<string[]> {
    // Every station with records is registered (a record needs its key): no scan of the records.
    return (await this.pg.query<{ code: string }>('SELECT code FROM stations ORDER BY 1')).rows.map((r) => r.code);
  }

  async report(station: string): Promise<StationReport> {
    const s = (
      await this.pg.query<{ n: number; first: number | null; last: number | null; late: number; maxlag: number | null; lastrx: number | null }>(
        'SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, COUNT(*) FILTER (WHERE lag_ms > $2) AS late, MAX(lag_ms) AS maxlag, MAX(received_ms) AS lastrx FROM received WHERE station = $1',
        [station, this.lateAfterMs],
      )
    ).rows[0];
    const lastRow = s.last === null ? undefined : (await this.pg.query<{ body: string }>('SELECT body FROM received WHERE station = $1 AND seq = $2', [station, s.last])).rows[0];
    const gaps = await this.gaps('received_index', station);
    const rejected = (await this.pg.query<{ n: number }>('SELECT COUNT(*) AS n FROM rejections WHERE station = $1', [station])).rows[0].n;
    const lastat = lastRow ? (JSON.parse(lastRow.body) as FillRecordV1).recordedAt : null;
    return overviewReport({ code: station, ...s, lastat, gaps: JSON.stringify(gaps), rejected });
  }

  /**
   * Every station's report in one grouped query (the /reports index of 1,000 stations ran 4
   * queries per station, ~2 s): the same figures as `report()`, through the same builder.
   */
  async stationReports(): Promise<StationReport[]> {
    const r = await this.pg.query<OverviewRow>(
      `WITH s AS (SELECT station, COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, COUNT(*) FILTER (WHERE lag_ms > $1) AS late, MAX(lag_ms) AS maxlag, MAX(received_ms) AS lastrx FROM received GROUP BY station),
            g AS (SELECT station, json_agg(json_build_object('from', prev + 1, 'to', seq - 1) ORDER BY seq)::text AS gaps
                    FROM (SELECT i.station, i.seq, LAG(i.seq, 1, COALESCE(st.pruned_before_seq - 1, 0::bigint)) OVER (PARTITION BY i.station ORDER BY i.seq) AS prev
                            FROM received_index i JOIN stations st ON st.code = i.station) w
                   WHERE seq > prev + 1 GROUP BY station),
            rj AS (SELECT station, COUNT(*) AS n FROM rejections GROUP BY station)
       SELECT c.code, s.n, s.first, s.last, s.late, s.maxlag, s.lastrx, g.gaps, rj.n AS rejected,
              (SELECT body::json ->> 'recordedAt' FROM received r WHERE r.station = c.code AND r.seq = s.last) AS lastat
         FROM stations c LEFT JOIN s ON s.station = c.code LEFT JOIN g ON g.station = c.code LEFT JOIN rj ON rj.station = c.code ORDER BY c.code`,
      [this.lateAfterMs],
    );
    return r.rows.map(overviewReport);
  }

  private async gaps(table: string, station: string): Promise<{ from: number; to: number }[]> {
    const r = await this.pg.query<{ from: number; to: number }>(
      `SELECT prev + 1 AS "from", seq - 1 AS "to" FROM (
         SELECT seq, LAG(seq, 1, COALESCE((SELECT pruned_before_seq - 1 FROM stations WHERE code = $1 AND $2), 0::bigint)) OVER (ORDER BY seq) AS prev FROM ${table} WHERE station = $1
       ) g WHERE seq > prev + 1 ORDER BY seq`,
      [station, table === 'received_index'],
    );
    return r.rows;
  }

  async records(station: string, fromMs = ALL_TIME.from, toMs = ALL_TIME.to): Promise<FillRecordV1[]> {
    const r = await this.pg.query<{ body: string }>('SELECT body FROM received WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 ORDER BY seq', [station, Math.max(fromMs, -9e15), Math.min(toMs, 9e15)]);
    return r.rows.map((x) => JSON.parse(x.body) as FillRecordV1);
  }

  async eventReport(station: string): Promise<EventReport> {
    const s = (await this.pg.query<{ n: number; first: number | null; last: number | null }>('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last FROM received_events WHERE station = $1', [station])).rows[0];
    const lastRow = s.last === null ? undefined : (await this.pg.query<{ body: string }>('SELECT body FROM received_events WHERE station = $1 AND seq = $2', [station, s.last])).rows[0];
    const gaps = await this.gaps('received_events', station);
    const rejected = (await this.pg.query<{ n: number }>('SELECT COUNT(*) AS n FROM event_rejections WHERE station = $1', [station])).rows[0].n;
    const kinds = (await this.pg.query<{ kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM received_events WHERE station = $1 GROUP BY kind ORDER BY kind', [station])).rows;
    return eventReportOf(station, s, lastRow?.body, gaps, rejected, kinds);
  }

  async events(station: string, fromMs = ALL_TIME.from, toMs = ALL_TIME.to, kind?: string): Promise<StationEventV1[]> {
    const r = await this.pg.query<{ body: string }>(
      'SELECT body FROM received_events WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 AND ($4::text IS NULL OR kind = $4) ORDER BY seq',
      [station, Math.max(fromMs, -9e15), Math.min(toMs, 9e15), kind ?? null],
    );
    return r.rows.map((x) => JSON.parse(x.body) as StationEventV1);
  }

  async check(): Promise<void> {
    await this.pg.query('SELECT 1');
  }

  async doctor(): Promise<DoctorReport> {
    const problems: string[] = [];
    const version = await this.schemaVersion();
    const code = latestVersion(PG_MIGRATIONS);
    if (version !== code) problems.push(`schema version ${version}, the code's is ${code}`);
    const server = (await this.pg.query<{ v: string }>('SELECT version() AS v')).rows[0].v.split(' on ')[0];
    const conn = (await this.pg.query<{ total: number; receivers: number; max: number }>(
      "SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE application_name LIKE 'fillgate-receiver%') AS receivers, current_setting('max_connections')::int AS max FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )).rows[0];
    if (conn.total > conn.max * 0.8) problems.push(`${conn.total} of ${conn.max} connections in use`);
    const repl = (await this.pg.query<{ name: string; lag: number | null }>('SELECT application_name AS name, EXTRACT(EPOCH FROM replay_lag)::float8 AS lag FROM pg_stat_replication')).rows;
    for (const r of repl) if ((r.lag ?? 0) > 60) problems.push(`standby ${r.name} replays ${Math.round(r.lag!)} s behind`);
    const now = this.now();
    const last = (await this.pg.query<{ code: string; rx: number | null }>('SELECT code, last_received_ms AS rx FROM stations')).rows;
    const seen = last.filter((l) => l.rx !== null);
    const silent = seen.filter((l) => now - l.rx! > 86_400_000).map((l) => l.code);
    const parts = [...this.months].sort((a, b) => a - b);
    const defaultRows = (await this.pg.query<{ n: number }>('SELECT COUNT(*) AS n FROM received_default')).rows[0].n;
    if (!this.months.has(monthOf(now) + 1)) problems.push("next month's partition is missing");
    if (defaultRows > 0) problems.push(`${defaultRows} records in the default partition (made outside any monthly partition: station clocks?)`);
    const counts = (await this.pg.query<{ stations: number; records: number }>("SELECT (SELECT COUNT(*) FROM stations) AS stations, (SELECT reltuples::bigint FROM pg_class WHERE relname = 'received_index') AS records")).rows[0];
    return {
      store: 'postgres',
      schemaVersion: version,
      codeSchemaVersion: code,
      server,
      connections: conn,
      replicationLagS: Object.fromEntries(repl.map((r) => [r.name, r.lag ?? 0])),
      lastReceivedAgeS: seen.length ? Math.round((now - Math.min(...seen.map((l) => l.rx!))) / 1000) : undefined,
      silentStations: silent,
      partitions: { months: parts.length, first: parts.length ? partitionName(parts[0]) : undefined, last: parts.length ? partitionName(parts[parts.length - 1]) : undefined, defaultRows },
      stations: counts.stations,
      records: Math.max(0, counts.records),
      problems,
    };
  }

  reportSource(): ReportSource {
    return (this.reports ??= new PgReportSource(this.pg, this.lateAfterMs));
  }

  protected async closeDb(): Promise<void> {
    await this.pg.end();
  }
}
