/**
 * Latches that only a supervisor's recorded reset may lift, kept in station.db so a
 * restart cannot lift them (issue 9 point 4):
 * - `leak`: the leak interlock's lock (CJ/T 394: reopening after a cut-off is manual; domain.md 5);
 * - `post:<id>`: a post in `fault`, awaiting a supervisor;
 * - `store`: a fill record or journal that could not be committed (domain.md 7, Kura #2006:
 *   never fill on while records may be lost; the cause must be looked at).
 * The computed store/upload locks are not latches (they are recomputed from the store
 * before any post starts) but their sets and lifts go into the same history.
 * Every set, lift and refused reset is kept with time, reason and who.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';

/** `remote`: a station lock by a signed remote command (gateway/remote/), lifted only by a remote unlock. */
export type LatchName = 'leak' | 'store' | 'remote' | `post:${string}`;

export interface Latch {
  latch: string;
  reason: string;
  detail?: string;
  /** Extra facts needed to restore it (e.g. the leak level). */
  data?: Record<string, unknown>;
  since: string;
}

export type LatchAction = 'set' | 'raise' | 'lift' | 'refused';

export interface LatchEvent {
  id: number;
  latch: string;
  action: LatchAction;
  reason?: string;
  detail?: string;
  at: string;
  by: string;
}

interface LatchRow {
  latch: string;
  reason: string;
  detail: string | null;
  data: string | null;
  since: string;
}

export class LatchStore {
  /** Every history line as it is written (the signed event log records each one: issue 10 point 6). */
  readonly noted = new Signal<Omit<LatchEvent, 'id'>>();
  constructor(private readonly db: Database.Database, private readonly clock: Clock) {
    db.exec(`CREATE TABLE IF NOT EXISTS latches (
      latch TEXT PRIMARY KEY, reason TEXT NOT NULL, detail TEXT, data TEXT, since TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS latch_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT, latch TEXT NOT NULL,
      action TEXT NOT NULL CHECK (action IN ('set', 'raise', 'lift', 'refused')),
      reason TEXT, detail TEXT, at TEXT NOT NULL, by TEXT NOT NULL)`);
  }

  private now(): string {
    return new Date(this.clock.wall()).toISOString();
  }

  get(latch: LatchName): Latch | undefined {
    const r = this.db.prepare('SELECT * FROM latches WHERE latch = ?').get(latch) as LatchRow | undefined;
    return r ? toLatch(r) : undefined;
  }

  has(latch: LatchName): boolean {
    return this.get(latch) !== undefined;
  }

  active(): Latch[] {
    return (this.db.prepare('SELECT * FROM latches ORDER BY since, latch').all() as LatchRow[]).map(toLatch);
  }

  /**
   * Sets the latch (by = what set it). Setting one already set keeps its original time; new
   * data (e.g. a higher leak level) is stored and recorded as a raise.
   */
  set(latch: LatchName, reason: string, detail?: string, data?: Record<string, unknown>, by = 'station'): void {
    const at = this.now();
    const prev = this.get(latch);
    const json = data ? JSON.stringify(data) : null;
    if (prev && JSON.stringify(prev.data ?? null) === JSON.stringify(data ?? null)) return;
    this.db.transaction(() => {
      if (prev) this.db.prepare('UPDATE latches SET data = ?, detail = COALESCE(?, detail) WHERE latch = ?').run(json, detail ?? null, latch);
      else this.db.prepare('INSERT INTO latches (latch, reason, detail, data, since) VALUES (?, ?, ?, ?, ?)').run(latch, reason, detail ?? null, json, at);
      this.note(latch, prev ? 'raise' : 'set', by, reason, detail, at);
    })();
  }

  /** Lifts the latch and records who did; false when it was not set. */
  lift(latch: LatchName, by: string, detail?: string): boolean {
    const prev = this.get(latch);
    if (!prev) return false;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM latches WHERE latch = ?').run(latch);
      this.note(latch, 'lift', by, prev.reason, detail);
    })();
    return true;
  }

  /** A history line only (refused resets, the computed locks coming and going). */
  note(latch: string, action: LatchAction, by: string, reason?: string, detail?: string, at = this.now()): void {
    this.db.prepare('INSERT INTO latch_events (latch, action, reason, detail, at, by) VALUES (?, ?, ?, ?, ?, ?)').run(latch, action, reason ?? null, detail ?? null, at, by);
    this.noted.emit({ latch, action, at, by, ...(reason !== undefined ? { reason } : {}), ...(detail !== undefined ? { detail } : {}) });
  }

  /** Newest first. */
  history(limit = 50): LatchEvent[] {
    const rows = this.db.prepare('SELECT * FROM latch_events ORDER BY id DESC LIMIT ?').all(limit) as (Omit<LatchEvent, 'reason' | 'detail'> & { reason: string | null; detail: string | null })[];
    return rows.map((r) => ({ id: r.id, latch: r.latch, action: r.action, at: r.at, by: r.by, ...(r.reason !== null ? { reason: r.reason } : {}), ...(r.detail !== null ? { detail: r.detail } : {}) }));
  }
}

function toLatch(r: LatchRow): Latch {
  return { latch: r.latch, reason: r.reason, since: r.since, ...(r.detail !== null ? { detail: r.detail } : {}), ...(r.data !== null ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}) };
}
