/**
 * Open exceptions of the station (issue 10 points 1 and 5): a cylinder that left without its
 * post-fill check (LEFT_UNCHECKED), a weight rise outside any fill (UNAUTHORISED_FILL). Each is
 * raised as an alarm, counts against its post on the dashboard, and stays open, across restarts
 * (station.db), until a supervisor closes it out with a note. The fill record of the attempt
 * (outcome filled_unchecked or unauthorised_fill) is the signed proof; this is the to-do list.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import { FillgateError } from '../../protocols/errors.ts';

export type ExceptionCode = 'LEFT_UNCHECKED' | 'UNAUTHORISED_FILL';

export interface StationException {
  id: number;
  post: string;
  code: ExceptionCode;
  attemptId: string;
  cylinderCode?: string;
  detail?: string;
  raisedAt: string;
  closedAt?: string;
  closedBy?: string;
  note?: string;
}

interface Row {
  id: number; post: string; code: ExceptionCode; attempt_id: string; cylinder_code: string | null; detail: string | null;
  raised_at: string; closed_at: string | null; closed_by: string | null; note: string | null;
}

const toException = (r: Row): StationException => ({
  id: r.id, post: r.post, code: r.code, attemptId: r.attempt_id, raisedAt: r.raised_at,
  ...(r.cylinder_code ? { cylinderCode: r.cylinder_code } : {}), ...(r.detail ? { detail: r.detail } : {}),
  ...(r.closed_at ? { closedAt: r.closed_at } : {}), ...(r.closed_by ? { closedBy: r.closed_by } : {}), ...(r.note ? { note: r.note } : {}),
});

export class ExceptionStore {
  constructor(private readonly db: Database.Database, private readonly clock: Clock) {
    db.exec(`CREATE TABLE IF NOT EXISTS station_exceptions (
      id INTEGER PRIMARY KEY AUTOINCREMENT, post TEXT NOT NULL, code TEXT NOT NULL, attempt_id TEXT NOT NULL,
      cylinder_code TEXT, detail TEXT, raised_at TEXT NOT NULL, closed_at TEXT, closed_by TEXT, note TEXT);
    CREATE INDEX IF NOT EXISTS station_exceptions_open ON station_exceptions (closed_at, post)`);
  }

  raise(e: { post: string; code: ExceptionCode; attemptId: string; cylinderCode?: string; detail?: string }): StationException {
    const at = new Date(this.clock.wall()).toISOString();
    const r = this.db
      .prepare('INSERT INTO station_exceptions (post, code, attempt_id, cylinder_code, detail, raised_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.post, e.code, e.attemptId, e.cylinderCode ?? null, e.detail ?? null, at);
    return this.get(Number(r.lastInsertRowid))!;
  }

  get(id: number): StationException | undefined {
    const row = this.db.prepare('SELECT * FROM station_exceptions WHERE id = ?').get(id) as Row | undefined;
    return row && toException(row);
  }

  /** Open ones, oldest first; `post` narrows to one post. */
  open(post?: string): StationException[] {
    const rows = this.db.prepare('SELECT * FROM station_exceptions WHERE closed_at IS NULL AND (@post IS NULL OR post = @post) ORDER BY id').all({ post: post ?? null }) as Row[];
    return rows.map(toException);
  }

  /** A supervisor closes one out; the note says what was done (re-checked, decanted, reported...). */
  close(id: number, by: string, note: string): StationException {
    const e = this.get(id);
    if (!e) throw new FillgateError('NOT_FOUND', `no exception ${id}`, { id });
    if (e.closedAt) throw new FillgateError('CONFLICT', `exception ${id} was closed by ${e.closedBy} at ${e.closedAt}`, { id });
    if (!note.trim()) throw new FillgateError('BAD_PAYLOAD', 'a note saying what was done is required to close an exception', { id });
    this.db.prepare('UPDATE station_exceptions SET closed_at = ?, closed_by = ?, note = ? WHERE id = ?').run(new Date(this.clock.wall()).toISOString(), by, note.trim(), id);
    return this.get(id)!;
  }
}
