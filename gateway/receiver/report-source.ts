/**
 * The SQLite receiver store's answers to the inspector's reports (reports.ts,
 * `ReportSource`); PostgreSQL's are in pg-report-source.ts (the same queries, with
 * the body's fields read through expression indexes instead of the `cylinder` and
 * `outcome` columns kept here). Each call is one short indexed query, run
 * synchronously by better-sqlite3: records are read a page at a time by the caller,
 * which yields to the event loop between pages.
 */
import type Database from '../sqlite.ts';
import type { CrossFillRow, ReportEventRow, ReportRecordRow, ReportRejectionRow, ReportSource } from './reports.ts';

const RECORD_COLUMNS = 'station, seq, recorded_ms AS "recordedMs", received_ms AS "receivedMs", lag_ms AS "lagMs", body';

/** LIKE pattern for "starts with `prefix`" (escapes % and _). */
export const likePrefix = (prefix: string) => prefix.replace(/[\\%_]/g, (c) => '\\' + c) + '%';

export class SqliteReportSource implements ReportSource {
  private stmts = new Map<string, Database.Statement>();
  private eventTable = false;

  constructor(private readonly db: Database.Database, readonly lateAfterMs: number) {}

  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) this.stmts.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  async stationList(): Promise<string[]> {
    return (this.stmt('SELECT code FROM stations UNION SELECT DISTINCT station FROM received ORDER BY 1').all() as { code: string }[]).map((r) => r.code);
  }

  async recordPage(station: string, fromMs: number, toMs: number, afterSeq: number, limit: number): Promise<ReportRecordRow[]> {
    return this.stmt(`SELECT ${RECORD_COLUMNS} FROM received WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? AND seq > ? ORDER BY seq LIMIT ?`).all(station, fromMs, toMs, afterSeq, limit) as ReportRecordRow[];
  }

  async rejectionList(station: string, fromMs: number, toMs: number): Promise<ReportRejectionRow[]> {
    return this.stmt('SELECT station, id, seq, reason, message, at_ms AS "atMs" FROM rejections WHERE station = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms').all(station, fromMs, toMs) as ReportRejectionRow[];
  }

  async cylinderRecords(code: string, fromMs: number, toMs: number, limit: number): Promise<ReportRecordRow[]> {
    return this.stmt(`SELECT ${RECORD_COLUMNS} FROM received WHERE cylinder = ? AND recorded_ms >= ? AND recorded_ms < ? ORDER BY recorded_ms, station, seq LIMIT ?`).all(code, fromMs, toMs, limit) as ReportRecordRow[];
  }

  async crossStationFills(station: string, fromMs: number, toMs: number, windowMs: number, outcomes: readonly string[]): Promise<CrossFillRow[]> {
    if (outcomes.length === 0) return [];
    const list = outcomes.map(() => '?').join(', ');
    const sql =
      'SELECT a.seq AS seq, a.recorded_ms AS "recordedMs", a.cylinder AS cylinder, b.station AS "otherStation", b.seq AS "otherSeq", b.recorded_ms AS "otherRecordedMs", b.body AS "otherBody" ' +
      'FROM received a JOIN received b ON b.cylinder = a.cylinder AND b.station <> a.station AND b.recorded_ms > a.recorded_ms - ? AND b.recorded_ms < a.recorded_ms + ? ' +
      `WHERE a.station = ? AND a.recorded_ms >= ? AND a.recorded_ms < ? AND a.cylinder IS NOT NULL AND a.outcome IN (${list}) AND b.outcome IN (${list}) ` +
      'ORDER BY a.seq, b.recorded_ms';
    return this.stmt(sql).all(windowMs, windowMs, station, fromMs, toMs, ...outcomes, ...outcomes) as CrossFillRow[];
  }

  async hasEventTable(): Promise<boolean> {
    // Once there, the table stays: the probe runs only until the event chain is deployed.
    this.eventTable ||= this.stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'received_events'").get() !== undefined;
    return this.eventTable;
  }

  async eventList(station: string, fromMs: number, toMs: number, kindPrefixes: readonly string[]): Promise<ReportEventRow[]> {
    if (kindPrefixes.length === 0 || !(await this.hasEventTable())) return [];
    const kinds = kindPrefixes.map(() => "kind LIKE ? ESCAPE '\\'").join(' OR ');
    const sql = `SELECT station, seq, kind, recorded_ms AS "recordedMs", body FROM received_events WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? AND (${kinds}) ORDER BY seq`;
    return this.stmt(sql).all(station, fromMs, toMs, ...kindPrefixes.map(likePrefix)) as ReportEventRow[];
  }
}
