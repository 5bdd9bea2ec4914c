/**
 * The PostgreSQL store's answers to the inspector's reports (reports.ts, `ReportSource`),
 * issue 11 point 6. Every call is one query on the node's pool, awaited: the node's event
 * loop never waits on the database, and the reports read records a page at a time.
 *
 * The record body is kept as the station sent it (TEXT, byte for byte: it is what was
 * signed); the fields the reports filter by are columns beside it, written by the receiver
 * from the verified record (migration 3 of PG_MIGRATIONS; migration 2's expression index on
 * the body cost a jsonb parse of every record on insert), as on SQLite:
 *   received_cylinder    (cylinder, recorded_ms)  a code across all stations
 *   received_time        (station, recorded_ms)   a station's period
 *   received_events_kind (kind, recorded_ms)      the alarm log's kinds
 */
import type pg from 'pg';
import { likePrefix } from './report-source.ts';
import type { CrossFillRow, ReportEventRow, ReportRecordRow, ReportRejectionRow, ReportSource } from './reports.ts';

const RECORD_COLUMNS = 'station, seq, recorded_ms AS "recordedMs", received_ms AS "receivedMs", lag_ms AS "lagMs", body';
/** The indexed column (received_cylinder) and the outcome; `t` is the table alias. */
const CYL = (t: string) => `${t}.cylinder`;
const OUTCOME = (t: string) => `${t}.outcome`;
/** int8 bounds: the reports' open ends are ±8.64e15, inside them. */
const clamp = (ms: number) => Math.max(-9e15, Math.min(9e15, ms));

export class PgReportSource implements ReportSource {
  constructor(private readonly pool: pg.Pool, readonly lateAfterMs: number) {}

  private async rows<T extends object>(sql: string, params: unknown[]): Promise<T[]> {
    return (await this.pool.query<T>(sql, params)).rows;
  }

  async stationList(): Promise<string[]> {
    // Every station with records is registered (a record needs its key).
    return (await this.rows<{ code: string }>('SELECT code FROM stations ORDER BY 1', [])).map((r) => r.code);
  }

  async recordPage(station: string, fromMs: number, toMs: number, afterSeq: number, limit: number): Promise<ReportRecordRow[]> {
    return this.rows<ReportRecordRow>(`SELECT ${RECORD_COLUMNS} FROM received WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 AND seq > $4 ORDER BY seq LIMIT $5`, [
      station, clamp(fromMs), clamp(toMs), afterSeq, limit,
    ]);
  }

  async rejectionList(station: string, fromMs: number, toMs: number): Promise<ReportRejectionRow[]> {
    return this.rows<ReportRejectionRow>('SELECT station, id, seq, reason, message, at_ms AS "atMs" FROM rejections WHERE station = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms', [station, clamp(fromMs), clamp(toMs)]);
  }

  async cylinderRecords(code: string, fromMs: number, toMs: number, limit: number): Promise<ReportRecordRow[]> {
    return this.rows<ReportRecordRow>(`SELECT ${RECORD_COLUMNS} FROM received r WHERE ${CYL('r')} = $1 AND recorded_ms >= $2 AND recorded_ms < $3 ORDER BY recorded_ms, station, seq LIMIT $4`, [
      code, clamp(fromMs), clamp(toMs), limit,
    ]);
  }

  async crossStationFills(station: string, fromMs: number, toMs: number, windowMs: number, outcomes: readonly string[]): Promise<CrossFillRow[]> {
    if (outcomes.length === 0) return [];
    // The station's fills of the period (its time index), then for each the same code at other
    // stations within the window (the cylinder index, one probe per fill).
    const sql =
      `SELECT a.seq, a.recorded_ms AS "recordedMs", a.cyl AS cylinder, b.station AS "otherStation", b.seq AS "otherSeq", b.recorded_ms AS "otherRecordedMs", b.body AS "otherBody"
         FROM (SELECT seq, recorded_ms, ${CYL('r')} AS cyl FROM received r
                WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 AND ${OUTCOME('r')} = ANY($5::text[])) a
         JOIN received b ON ${CYL('b')} = a.cyl AND b.station <> $1 AND b.recorded_ms > a.recorded_ms - $4 AND b.recorded_ms < a.recorded_ms + $4
        WHERE a.cyl IS NOT NULL AND ${OUTCOME('b')} = ANY($5::text[])
        ORDER BY a.seq, b.recorded_ms`;
    return this.rows<CrossFillRow>(sql, [station, clamp(fromMs), clamp(toMs), windowMs, [...outcomes]]);
  }

  async hasEventTable(): Promise<boolean> {
    return true; // made by migration 1 on PostgreSQL
  }

  async eventList(station: string, fromMs: number, toMs: number, kindPrefixes: readonly string[]): Promise<ReportEventRow[]> {
    if (kindPrefixes.length === 0) return [];
    // LIKE's default escape in PostgreSQL is the backslash, as likePrefix writes it.
    return this.rows<ReportEventRow>(
      'SELECT station, seq, kind, recorded_ms AS "recordedMs", body FROM received_events WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 AND kind LIKE ANY($4::text[]) ORDER BY seq',
      [station, clamp(fromMs), clamp(toMs), kindPrefixes.map(likePrefix)],
    );
  }
}
