/**
 * The station's signed event log (issue 10 point 6): a second chain next to
 * the fill records, in the same database file, with its own sequence, signed
 * with the same station key. Append-only like the records (triggers), uploaded
 * in seq order by the event uploader (gateway/sync/event-uploader.ts) and
 * verified by `fillgate records verify`.
 *
 * Callers (station wiring, filling rules, remote commands) use one method:
 *   eventLog.append({ kind, post?, subject?, by?, reason?, detail?, data?, id? }) → StationEventV1
 * It commits (synchronous=FULL) before it returns. See event.ts for the kinds.
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { Clock } from '../../protocols/clock.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import { GENESIS_HASH, canonicalJson, sha256Hex } from './canonical.ts';
import { getMeta, openRecordsDb, setMeta, type Db, type StoredRow } from './db.ts';
import { buildEvent, eventInputError, type EventInput, type StationEventV1 } from './event.ts';
import { isoWithOffset } from './record.ts';
import { chainCounts } from './store.ts';
import { sign } from 'node:crypto';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  wall_ms INTEGER NOT NULL,
  mono_ms REAL NOT NULL,
  boot TEXT NOT NULL,
  kind TEXT NOT NULL,
  body TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  status_wall_ms INTEGER,
  reject_reason TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE status = 0;
CREATE INDEX IF NOT EXISTS events_rejected ON events(seq) WHERE status = 2;
CREATE TRIGGER IF NOT EXISTS events_append_only BEFORE UPDATE OF seq, id, hash, wall_ms, mono_ms, boot, kind, body ON events
BEGIN SELECT RAISE(ABORT, 'station events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_keep_unacked BEFORE DELETE ON events WHEN OLD.status = 0
BEGIN SELECT RAISE(ABORT, 'an unacknowledged station event cannot be deleted'); END;
`;

/** Meta keys (records_meta) of the event chain. */
export const EVENTS_META = { prunedSeq: 'events_pruned_through_seq', prunedHash: 'events_pruned_through_hash', configHash: 'events_config_hash' } as const;

export interface EventLogOptions {
  db: Db | string;
  clock: Clock;
  station: string;
  privateKey: KeyObject;
  /** Offset of recordedAt (records.utcOffsetMinutes). */
  utcOffsetMinutes?: number;
  /** A PC clock jump larger than this becomes a clock.jump event (records.clockJumpThresholdMs). */
  clockJumpThresholdMs?: number;
  bootId?: string;
}

export type EventRow = StoredRow & { kind: string };

export class EventLog {
  readonly db: Db;
  readonly boot: string;
  /** After each committed event (the event uploader wakes on it). */
  readonly appended = new Signal<StationEventV1>();
  readonly stats = { appended: 0, duplicates: 0, badInput: 0 };
  private readonly owned: boolean;
  /** wall − mono at the last clock check of this run. */
  private clockRef?: number;

  constructor(private readonly opts: EventLogOptions) {
    const { db, owned } = openRecordsDb(opts.db);
    this.db = db;
    this.owned = owned;
    this.db.exec(SCHEMA);
    this.boot = opts.bootId ?? randomBytes(6).toString('hex');
  }

  get station(): string {
    return this.opts.station;
  }

  /** Commit one event; returns it signed. Throws BAD_PAYLOAD on a caller bug, STORE_ERROR when not committed. */
  append(input: EventInput): StationEventV1 {
    const bad = eventInputError(input);
    if (bad) {
      this.stats.badInput++;
      throw new FillgateError('BAD_PAYLOAD', `station event: ${bad}`, { kind: (input as { kind?: unknown })?.kind });
    }
    let out: { event: StationEventV1; fresh: boolean };
    try {
      out = this.db.transaction(() => this.insert(input))();
    } catch (err) {
      if (err instanceof FillgateError) throw err;
      throw new FillgateError('STORE_ERROR', `station event not committed: ${errorMessage(err)}`, { kind: input.kind }, { cause: err });
    }
    if (out.fresh) {
      this.stats.appended++;
      this.appended.emit(out.event);
    } else this.stats.duplicates++;
    return out.event;
  }

  private insert(input: EventInput): { event: StationEventV1; fresh: boolean } {
    if (input.id) {
      const dup = this.db.prepare('SELECT body FROM events WHERE id = ?').get(input.id) as { body: string } | undefined;
      if (dup) return { event: JSON.parse(dup.body) as StationEventV1, fresh: false };
    }
    const last = this.db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    const prev = last ?? { seq: Number(getMeta(this.db, EVENTS_META.prunedSeq) ?? 0), hash: getMeta(this.db, EVENTS_META.prunedHash) ?? GENESIS_HASH };
    const wall = Math.round(this.opts.clock.wall());
    const mono = this.opts.clock.now();
    const body = buildEvent(input, input.id ?? randomUUID(), {
      station: this.station, seq: prev.seq + 1, prevHash: prev.hash,
      recordedAt: isoWithOffset(wall, this.opts.utcOffsetMinutes), monoMs: Math.round(mono), boot: this.boot,
    });
    const bytes = canonicalJson(body);
    const sig = sign(null, Buffer.from(bytes, 'utf8'), this.opts.privateKey).toString('base64');
    const canonical = canonicalJson({ ...body, sig });
    this.db.prepare('INSERT INTO events (seq, id, hash, wall_ms, mono_ms, boot, kind, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(body.seq, body.id, sha256Hex(bytes), wall, mono, this.boot, body.kind, canonical);
    return { event: JSON.parse(canonical) as StationEventV1, fresh: true };
  }

  /**
   * Records a PC clock jump as a `clock.jump` event. Within a run, wall − monotonic only moves
   * when the clock is set; at the first check of a run only a wall clock behind the last stored
   * event is detectable. Call it periodically (the station does, every second).
   */
  checkClock(): StationEventV1 | undefined {
    const wall = this.opts.clock.wall();
    const offset = wall - this.opts.clock.now();
    const threshold = this.opts.clockJumpThresholdMs ?? 2000;
    let jump: number | undefined;
    if (this.clockRef === undefined) {
      const last = this.db.prepare('SELECT wall_ms FROM events ORDER BY seq DESC LIMIT 1').get() as { wall_ms: number } | undefined;
      if (last && wall < last.wall_ms - threshold) jump = Math.round(wall - last.wall_ms);
    } else if (Math.abs(offset - this.clockRef) > threshold) jump = Math.round(offset - this.clockRef);
    this.clockRef = offset;
    if (jump === undefined) return undefined;
    return this.append({ kind: 'clock.jump', reason: 'CLOCK_JUMP', detail: `the PC clock moved by ${jump} ms`, data: { jumpMs: jump } });
  }

  /** The previous start's config hash, and stores this one. */
  swapConfigHash(hash: string): string | undefined {
    const prev = getMeta(this.db, EVENTS_META.configHash);
    setMeta(this.db, EVENTS_META.configHash, hash);
    return prev;
  }

  // ---- what the uploader and status need ---------------------------------------------

  pending(limit: number): EventRow[] {
    return this.db.prepare('SELECT * FROM events WHERE status = 0 ORDER BY seq LIMIT ?').all(limit) as EventRow[];
  }

  applyAcks(acked: number[], rejected: { seq: number; reason: string }[]): void {
    const wall = Math.round(this.opts.clock.wall());
    const ack = this.db.prepare('UPDATE events SET status = 1, status_wall_ms = ? WHERE seq = ? AND status = 0');
    const rej = this.db.prepare('UPDATE events SET status = 2, status_wall_ms = ?, reject_reason = ? WHERE seq = ? AND status = 0');
    this.db.transaction(() => {
      for (const seq of acked) ack.run(wall, seq);
      for (const r of rejected) rej.run(wall, r.reason, r.seq);
    })();
  }

  /** Newest first (status screens, tests). */
  recent(limit = 50, kind?: string): StationEventV1[] {
    const rows = (kind
      ? this.db.prepare('SELECT body FROM events WHERE kind = ? ORDER BY seq DESC LIMIT ?').all(kind, limit)
      : this.db.prepare('SELECT body FROM events ORDER BY seq DESC LIMIT ?').all(limit)) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as StationEventV1);
  }

  counts(): { total: number; pending: number; acked: number; rejected: number; lastSeq?: number } {
    // From the seq range and the partial indexes, not a scan of the table (store.ts chainCounts).
    const c = chainCounts(this.db, 'events', false);
    return { total: c.total, pending: c.pending, acked: c.acked, rejected: c.rejected, lastSeq: c.lastSeq };
  }

  /** Acknowledged events older than retentionDays, as a prefix of the chain (the newest always stays). */
  prune(retentionDays: number): number {
    const cutoff = Math.round(this.opts.clock.wall()) - retentionDays * 86_400_000;
    const keep = this.db.prepare('SELECT MIN(seq) AS seq FROM events WHERE status != 1 OR wall_ms >= ?').get(cutoff) as { seq: number | null };
    const last = this.db.prepare('SELECT MAX(seq) AS seq FROM events').get() as { seq: number | null };
    const through = keep.seq === null ? last.seq : keep.seq - 1;
    if (through === null) return 0;
    const lastPruned = this.db.prepare('SELECT seq, hash FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 1').get(through) as { seq: number; hash: string } | undefined;
    if (!lastPruned || lastPruned.seq === last.seq) return 0;
    return this.db.transaction(() => {
      setMeta(this.db, EVENTS_META.prunedSeq, String(lastPruned.seq));
      setMeta(this.db, EVENTS_META.prunedHash, lastPruned.hash);
      return this.db.prepare('DELETE FROM events WHERE seq <= ?').run(lastPruned.seq).changes;
    })();
  }

  close(): void {
    if (this.owned && this.db.open) this.db.close();
  }
}
