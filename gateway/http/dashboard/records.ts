/**
 * The records screen's search (issue 6 point 1: filter by date, post, cylinder,
 * outcome; export CSV). Reads the station's record database directly
 * (read-only queries on the store's WAL connection, records/db.ts) and reuses
 * the CSV writer of `fillgate records export`, so a file from the screen and
 * one from the CLI have the same columns.
 */
import { FillgateError } from '../../../protocols/errors.ts';
import type { Db } from '../../records/db.ts';
import { recordsToCsv } from '../../records/export.ts';
import type { FillRecordV1 } from '../../records/record.ts';
import type { FillOutcome } from '../../records/types.ts';

export const outcomes: readonly FillOutcome[] = ['filled', 'underfilled', 'overfilled', 'filled_unchecked', 'unauthorised_fill', 'refused', 'tripped', 'aborted', 'interrupted'];

export interface RecordQuery {
  /** Inclusive start, exclusive end, epoch ms (of the commit wall time). */
  fromMs?: number;
  toMs?: number;
  post?: string;
  /** Substring of the cylinder code. */
  cylinder?: string;
  outcome?: FillOutcome;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * A calendar day's first millisecond at the station. With records.utcOffsetMinutes
 * the station's offset, otherwise this PC's time zone (the station's, on site).
 */
export function dayStartMs(day: string, utcOffsetMinutes?: number): number {
  const m = DAY.exec(day);
  if (!m) throw new FillgateError('BAD_PAYLOAD', `"${day}" is not a date (YYYY-MM-DD)`, { day });
  const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
  const local = utcOffsetMinutes === undefined ? new Date(y, mo, d).getTime() : Date.UTC(y, mo, d) - utcOffsetMinutes * 60_000;
  if (!Number.isFinite(local) || new Date(Date.UTC(y, mo, d)).getUTCDate() !== d) throw new FillgateError('BAD_PAYLOAD', `"${day}" is not a calendar date`, { day });
  return local;
}

/** From the query string: from/to are days (to inclusive), post, cylinder, outcome. Bad values are a clear error, never ignored. */
export function parseRecordQuery(q: URLSearchParams, utcOffsetMinutes?: number): RecordQuery {
  const out: RecordQuery = {};
  const from = q.get('from')?.trim();
  const to = q.get('to')?.trim();
  if (from) out.fromMs = dayStartMs(from, utcOffsetMinutes);
  if (to) out.toMs = dayStartMs(to, utcOffsetMinutes) + 86_400_000;
  const post = q.get('post')?.trim();
  if (post) out.post = post;
  const cylinder = q.get('cylinder')?.trim();
  if (cylinder) {
    if (cylinder.length > 128) throw new FillgateError('BAD_PAYLOAD', 'cylinder code too long', {});
    out.cylinder = cylinder;
  }
  const outcome = q.get('outcome')?.trim();
  if (outcome) {
    if (!outcomes.includes(outcome as FillOutcome)) throw new FillgateError('BAD_PAYLOAD', `outcome must be one of ${outcomes.join(', ')}`, { outcome });
    out.outcome = outcome as FillOutcome;
  }
  return out;
}

function where(f: RecordQuery): { sql: string; args: (string | number)[] } {
  const { conditions, args } = recordConditions(f);
  return { sql: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', args };
}

/** The query as SQL conditions on the records table, for the search and the streamed export. */
export function recordConditions(f: RecordQuery): { conditions: string[]; args: (string | number)[] } {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (f.fromMs !== undefined) parts.push('wall_ms >= ?'), args.push(f.fromMs);
  if (f.toMs !== undefined) parts.push('wall_ms < ?'), args.push(f.toMs);
  if (f.post) parts.push("json_extract(body, '$.post') = ?"), args.push(f.post);
  if (f.outcome) parts.push("json_extract(body, '$.outcome') = ?"), args.push(f.outcome);
  if (f.cylinder) {
    // instr(), not LIKE: a code may contain % or _.
    parts.push("instr(json_extract(body, '$.cylinderCode'), ?) > 0");
    args.push(f.cylinder);
  }
  return { conditions: parts, args };
}

/** Newest first, at most `limit`, and how many match in all. */
export function findRecords(db: Db, f: RecordQuery, limit = 200): { total: number; records: FillRecordV1[] } {
  const w = where(f);
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM records ${w.sql}`).get(...w.args) as { n: number }).n;
  const rows = db.prepare(`SELECT body FROM records ${w.sql} ORDER BY seq DESC LIMIT ?`).all(...w.args, limit) as { body: string }[];
  return { total, records: rows.map((r) => JSON.parse(r.body) as FillRecordV1) };
}

/** Dashboard exports stop here (a file a spreadsheet still opens). */
export const CSV_EXPORT_MAX = 200_000;

/** Every matching record in sequence order, as `fillgate records export --format csv` writes them (in one string: small sets and tests). */
export function recordsCsv(db: Db, f: RecordQuery, max = CSV_EXPORT_MAX): string {
  const w = where(f);
  const rows = db.prepare(`SELECT body FROM records ${w.sql} ORDER BY seq LIMIT ?`).all(...w.args, max) as { body: string }[];
  return recordsToCsv(rows.map((r) => JSON.parse(r.body) as FillRecordV1));
}
