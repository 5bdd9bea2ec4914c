/**
 * Write first, then send (issue 4 point 4; domain.md 7, Cirrus Link / Kura lessons): every
 * outgoing message that matters is committed to SQLite before it is published, and leaves
 * only when the upstream PUBACKs it. Order is kept per class; alarms jump the queue.
 * Telemetry is capped: the oldest is dropped first and the drops are counted. Messages
 * that matter are never dropped (a full disk raises STORE_ERROR for the caller to alarm on).
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

export class Outbox {
  private insert;
  private selectNext;
  private remove;
  private dropOldest;
  private countTelemetry;
  private countDropped;
  private telemetryCount: number;

  constructor(private db: Database, private opts: { telemetryCap: number; clock: Clock }) {
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
    this.selectNext = db.prepare('SELECT id, class, topic, payload, retain, created_at AS createdAt FROM mqtt_outbox ORDER BY priority, id LIMIT ?');
    this.remove = db.prepare('DELETE FROM mqtt_outbox WHERE id = ? RETURNING class');
    this.countDropped = db.prepare("UPDATE mqtt_outbox_meta SET value = value + ? WHERE key = 'telemetry_dropped'");
    this.dropOldest = db.prepare(
      "DELETE FROM mqtt_outbox WHERE id IN (SELECT id FROM mqtt_outbox WHERE class = 'telemetry' ORDER BY id LIMIT ?)",
    );
    this.countTelemetry = db.prepare("SELECT COUNT(*) AS n FROM mqtt_outbox WHERE class = 'telemetry'");
    this.telemetryCount = (this.countTelemetry.get() as { n: number }).n;
  }

  /** Commits the message; returns its id. Throws STORE_ERROR (never drops silently) when the write fails. */
  enqueue(msg: OutboxMessage): number {
    const payload = typeof msg.payload === 'string' ? Buffer.from(msg.payload) : msg.payload;
    const telemetry = msg.class === 'telemetry';
    try {
      // Telemetry may be lost in a power cut; it is not worth an fsync per row (engineering.md: 10× slower).
      if (telemetry) this.db.pragma('synchronous = NORMAL');
      const id = this.db.transaction(() => {
        const info = this.insert.run(PRIORITY[msg.class], msg.class, msg.topic, payload, msg.retain ? 1 : 0, this.opts.clock.wall());
        if (telemetry && ++this.telemetryCount > this.opts.telemetryCap) {
          const excess = this.telemetryCount - this.opts.telemetryCap;
          const dropped = this.dropOldest.run(excess).changes;
          this.telemetryCount -= dropped;
          this.countDropped.run(dropped);
        }
        return Number(info.lastInsertRowid);
      })();
      return id;
    } catch (err) {
      throw new FillgateError('STORE_ERROR', `outbox write failed: ${errorMessage(err)}`, { topic: msg.topic }, { cause: err });
    } finally {
      if (telemetry) this.db.pragma('synchronous = FULL');
    }
  }

  /** The next messages in send order (alarms first, then by id), skipping ids already in flight. */
  next(limit: number, skip: ReadonlySet<number> = new Set()): OutboxRow[] {
    const rows = this.selectNext.all(limit + skip.size) as { id: number; class: OutboxClass; topic: string; payload: Buffer; retain: number; createdAt: number }[];
    return rows
      .filter((r) => !skip.has(r.id))
      .slice(0, limit)
      .map((r) => ({ ...r, retain: r.retain === 1 }));
  }

  /** Called on PUBACK only. Several acks share one transaction (one fsync instead of many). */
  ack(ids: number | number[]): void {
    const list = typeof ids === 'number' ? [ids] : ids;
    this.db.transaction(() => {
      for (const id of list) {
        const r = this.remove.get(id) as { class: OutboxClass } | undefined;
        if (r?.class === 'telemetry') this.telemetryCount--;
      }
    })();
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
