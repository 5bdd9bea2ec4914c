/**
 * Write first, then send (issue 4 point 4; domain.md 7, Cirrus Link / Kura lessons): every
 * outgoing message that matters is committed to SQLite before it is published, and leaves
 * only when the upstream PUBACKs it. Order is kept per class; alarms jump the queue.
 * Telemetry is capped: the oldest is dropped first and the drops are counted. Messages
 * that matter are never dropped (a full disk raises STORE_ERROR for the caller to alarm on).
 *
 * Group commit (issue 14 point 5): `add()` joins the open batch, and the batch is written in
 * one transaction at the end of the event-loop turn (or at once when `maxBatch` rows wait), so
 * a burst of device messages costs one fsync instead of one each (engineering.md: 2,300 rows/s
 * one per transaction, 81k/s a hundred per transaction, synchronous=FULL). The promise
 * resolves only after the commit: whoever acknowledges a message (the broker's PUBACK) waits
 * for it. A pending row is not in the table, so it cannot be sent before it is on disk.
 */
import type { Database } from 'better-sqlite3';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';

/** alarm: sent before anything else; record: fill outcomes, device events; telemetry: capped. */
export type OutboxClass = 'alarm' | 'record' | 'telemetry';
const PRIORITY: Record<OutboxClass, number> = { alarm: 0, record: 1, telemetry: 2 };

export interface OutboxMessage {
  topic: string;
  payload: string | Buffer;
  class: OutboxClass;
  retain?: boolean;
}

export interface OutboxRow {
  id: number;
  topic: string;
  payload: Buffer;
  class: OutboxClass;
  retain: boolean;
  /** Wall-clock epoch ms at enqueue. */
  createdAt: number;
}

export interface Backlog {
  count: number;
  bytes: number;
  /** Age of the oldest waiting message (ms, wall clock), 0 when empty. */
  oldestAgeMs: number;
  byClass: Record<OutboxClass, number>;
  /** Telemetry dropped to respect the cap, since the outbox was created (persisted). */
  telemetryDropped: number;
}

export interface OutboxOptions {
  telemetryCap: number;
  clock: Clock;
  /** Rows waiting in one group commit before it is written at once (bounds memory and the batch's fsync). */
  maxBatch?: number;
  /** When the open batch is written: the end of this event-loop turn by default. Tests inject one to hold a commit. */
  schedule?: (flush: () => void) => void;
}

interface PendingRow {
  priority: number;
  class: OutboxClass;
  topic: string;
  payload: Buffer;
  retain: number;
}

/** One group commit: its rows, and one promise settled when the transaction has committed (or failed). */
interface Batch {
  rows: PendingRow[];
  ids: number[];
  done: Promise<void>;
  settle(err?: Error): void;
}

export const DEFAULT_MAX_BATCH = 500;
/** Rows kept in memory for the relay (about 1 MB of 200-byte messages); beyond it, rows are read back. */
const FRESH_CAP = 5_000;

export class Outbox {
  private insert;
  private selectIds;
  private selectRow;
  private relax;
  private strict;
  private remove;
  private dropOldest;
  private countTelemetry;
  private countDropped;
  private telemetryCount: number;
  private open?: Batch;
  private lastDone?: Promise<void>;
  /**
   * Rows this process committed and the upstream has not acked yet, by id (at most FRESH_CAP):
   * next() takes the order from the index and the row from here when it can. Rows never change
   * once written, so this is a copy of the table, never a second truth; a miss reads the table.
   */
  private fresh = new Map<number, OutboxRow>();
  private readonly maxBatch: number;
  private readonly schedule: (flush: () => void) => void;

  constructor(private db: Database, private opts: OutboxOptions) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.schedule = opts.schedule ?? ((flush) => setImmediate(flush));
    db.pragma('journal_mode = WAL');
    // FULL: a message that matters is on disk once enqueue() returns (telemetry relaxes it, below).
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS mqtt_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        priority INTEGER NOT NULL,
        class TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        retain INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS mqtt_outbox_order ON mqtt_outbox (priority, id);
      CREATE TABLE IF NOT EXISTS mqtt_outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO mqtt_outbox_meta (key, value) VALUES ('telemetry_dropped', 0);
    `);
    this.insert = db.prepare('INSERT INTO mqtt_outbox (priority, class, topic, payload, retain, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    // Ids first (from the index alone), then the rows not in flight: the relay asks on every ack,
    // and re-reading the payloads of the whole window each time was a tenth of its CPU.
    this.selectIds = db.prepare('SELECT id FROM mqtt_outbox ORDER BY priority, id LIMIT ?').pluck();
    this.selectRow = db.prepare('SELECT id, class, topic, payload, retain, created_at AS createdAt FROM mqtt_outbox WHERE id = ?');
    this.relax = db.prepare('PRAGMA synchronous = NORMAL');
    this.strict = db.prepare('PRAGMA synchronous = FULL');
    this.remove = db.prepare('DELETE FROM mqtt_outbox WHERE id = ? RETURNING class');
    this.countDropped = db.prepare("UPDATE mqtt_outbox_meta SET value = value + ? WHERE key = 'telemetry_dropped'");
    this.dropOldest = db
      .prepare("DELETE FROM mqtt_outbox WHERE id IN (SELECT id FROM mqtt_outbox WHERE class = 'telemetry' ORDER BY id LIMIT ?) RETURNING id")
      .pluck();
    this.countTelemetry = db.prepare("SELECT COUNT(*) AS n FROM mqtt_outbox WHERE class = 'telemetry'");
    this.telemetryCount = (this.countTelemetry.get() as { n: number }).n;
  }

  /** Commits the message in its own transaction before returning; returns its id. Throws STORE_ERROR (never drops silently). */
  enqueue(msg: OutboxMessage): number {
    return this.write([toRow(msg)])[0];
  }

  /**
   * Group commit: the message joins the open batch, written in one transaction at the end of
   * this event-loop turn (or now, when `maxBatch` rows wait). Resolves with the row id once it
   * is committed; rejects with STORE_ERROR when the batch's transaction fails (nothing of it
   * is written, every caller of the batch hears it).
   */
  add(msg: OutboxMessage): Promise<number> {
    const batch = this.open ?? this.openBatch();
    const index = batch.rows.push(toRow(msg)) - 1;
    this.lastDone = batch.done;
    if (batch.rows.length >= this.maxBatch) this.flush();
    return batch.done.then(() => batch.ids[index]);
  }

  /**
   * Settles when the batch holding the most recently added row has committed (batches commit in
   * order, so every earlier one has settled too); undefined once it has. A failed batch stays
   * the answer until the next add(): the row that filled a batch (flushed at once) must still
   * hear that its commit failed, and while the store fails nothing should be acknowledged.
   */
  committed(): Promise<void> | undefined {
    return this.lastDone;
  }

  /** Rows added but not yet committed. */
  get pending(): number {
    return this.open?.rows.length ?? 0;
  }

  /** Writes the open batch now (the scheduled flush, a full batch, or a graceful stop). */
  flush(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = undefined;
    try {
      batch.ids = this.write(batch.rows);
      if (this.lastDone === batch.done) this.lastDone = undefined;
      batch.settle();
    } catch (err) {
      batch.settle(err as Error);
    }
  }

  private openBatch(): Batch {
    let settle!: (err?: Error) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    // The batch's own promise may fail with no one waiting on it directly: its callers hear it via add().
    done.catch(() => undefined);
    const batch: Batch = { rows: [], ids: [], done, settle };
    this.open = batch;
    this.schedule(() => this.flush());
    return batch;
  }

  /** One transaction for all rows; FULL unless every row is telemetry. */
  private write(rows: PendingRow[]): number[] {
    // Telemetry may be lost in a power cut; it is not worth an fsync per row (engineering.md: 10× slower).
    const relaxed = rows.every((r) => r.class === 'telemetry');
    // One timestamp per transaction: the rows are committed together.
    const now = this.opts.clock.wall();
    try {
      if (relaxed) this.relax.run();
      const written = this.db.transaction(() => {
        const ids: number[] = [];
        for (const r of rows) {
          const info = this.insert.run(r.priority, r.class, r.topic, r.payload, r.retain, now);
          ids.push(Number(info.lastInsertRowid));
          if (r.class === 'telemetry' && ++this.telemetryCount > this.opts.telemetryCap) {
            const dropped = this.dropOldest.all(this.telemetryCount - this.opts.telemetryCap) as number[];
            for (const id of dropped) this.fresh.delete(id);
            this.telemetryCount -= dropped.length;
            this.countDropped.run(dropped.length);
          }
        }
        return ids;
      })();
      // Committed: keep a copy for the relay (only now, so a rolled-back row is never sent).
      for (let i = 0; i < rows.length && this.fresh.size < FRESH_CAP; i++) {
        const r = rows[i];
        this.fresh.set(written[i], { id: written[i], topic: r.topic, payload: r.payload, class: r.class, retain: r.retain === 1, createdAt: now });
      }
      return written;
    } catch (err) {
      // The transaction rolled back: recount, so the cap is not thrown off by rows that were never written.
      try {
        this.telemetryCount = (this.countTelemetry.get() as { n: number }).n;
      } catch {
        // the store itself is failing: the count is corrected by the next write that works
      }
      throw new FillgateError('STORE_ERROR', `outbox write failed: ${errorMessage(err)}`, { topic: rows[0]?.topic, rows: rows.length }, { cause: err });
    } finally {
      if (relaxed) this.strict.run();
    }
  }

  /** The next messages in send order (alarms first, then by id), skipping ids already in flight. */
  next(limit: number, skip: ReadonlySet<number> = new Set()): OutboxRow[] {
    // One read transaction for the ids and any row not in memory (a read each costs twice as much).
    return this.db.transaction(() => {
      const out: OutboxRow[] = [];
      for (const id of this.selectIds.all(limit + skip.size) as number[]) {
        if (out.length === limit) break;
        if (skip.has(id)) continue;
        const cached = this.fresh.get(id);
        if (cached) {
          out.push(cached);
          continue;
        }
        const r = this.selectRow.get(id) as { id: number; class: OutboxClass; topic: string; payload: Buffer; retain: number; createdAt: number };
        out.push({ ...r, retain: r.retain === 1 });
      }
      return out;
    })();
  }

  /**
   * Called on PUBACK only. Several acks share one transaction, and it is not fsynced
   * (synchronous=NORMAL): a delete lost in a power cut sends the row again, a duplicate the
   * upstream already handles (at-least-once), never a loss. A kill -9 loses no commit in WAL mode.
   */
  ack(ids: number | number[]): void {
    const list = typeof ids === 'number' ? [ids] : ids;
    this.relax.run();
    try {
      this.db.transaction(() => {
        for (const id of list) {
          const r = this.remove.get(id) as { class: OutboxClass } | undefined;
          if (r?.class === 'telemetry') this.telemetryCount--;
          this.fresh.delete(id);
        }
      })();
    } finally {
      this.strict.run();
    }
  }

  backlog(): Backlog {
    const rows = this.db
      .prepare('SELECT class, COUNT(*) AS n, COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) AS bytes, MIN(created_at) AS oldest FROM mqtt_outbox GROUP BY class')
      .all() as { class: OutboxClass; n: number; bytes: number; oldest: number }[];
    const byClass: Record<OutboxClass, number> = { alarm: 0, record: 0, telemetry: 0 };
    let count = 0;
    let bytes = 0;
    let oldest = Infinity;
    for (const r of rows) {
      byClass[r.class] = r.n;
      count += r.n;
      bytes += r.bytes;
      oldest = Math.min(oldest, r.oldest);
    }
    const dropped = (this.db.prepare("SELECT value FROM mqtt_outbox_meta WHERE key = 'telemetry_dropped'").get() as { value: number }).value;
    return { count, bytes, oldestAgeMs: count ? Math.max(0, this.opts.clock.wall() - oldest) : 0, byClass, telemetryDropped: dropped };
  }
}

function toRow(msg: OutboxMessage): PendingRow {
  const payload = typeof msg.payload === 'string' ? Buffer.from(msg.payload) : msg.payload;
  return { priority: PRIORITY[msg.class], class: msg.class, topic: msg.topic, payload, retain: msg.retain ? 1 : 0 };
}
