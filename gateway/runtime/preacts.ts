/**
 * Learned in-flight amounts (preact, 落差) per post and cylinder model, kept
 * across restarts so a post does not relearn from scratch (domain.md 4).
 */
import type Database from 'better-sqlite3';
import type { PreactEntry, ValveTiming } from '../controller/index.ts';

export class PreactStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS preacts (
      post TEXT NOT NULL, model TEXT NOT NULL, preact_kg REAL NOT NULL, flow_kg_per_s REAL, fills INTEGER NOT NULL,
      updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), PRIMARY KEY (post, model))`);
    // The valve's timing per post and valve (its wire address): another valve at the post starts over (issue 14 point 2).
    db.exec(`CREATE TABLE IF NOT EXISTS valve_timings (
      post TEXT NOT NULL, valve TEXT NOT NULL, timing TEXT NOT NULL,
      updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), PRIMARY KEY (post, valve))`);
  }

  loadTiming(post: string, valve: string): ValveTiming | undefined {
    const row = this.db.prepare('SELECT timing FROM valve_timings WHERE post = ? AND valve = ?').get(post, valve) as { timing: string } | undefined;
    if (!row) return undefined;
    try {
      const t = JSON.parse(row.timing) as ValveTiming;
      return Number.isFinite(t.closeMs) && Number.isFinite(t.spreadMs) && Number.isInteger(t.fills) ? t : undefined;
    } catch {
      return undefined; // unreadable: learn again (the first fill is conservative)
    }
  }

  saveTiming(post: string, valve: string, t: ValveTiming): void {
    this.db
      .prepare(
        `INSERT INTO valve_timings (post, valve, timing) VALUES (?, ?, ?)
         ON CONFLICT(post, valve) DO UPDATE SET timing = excluded.timing, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')`,
      )
      .run(post, valve, JSON.stringify(t));
  }

  load(post: string): Record<string, PreactEntry> {
    const rows = this.db.prepare('SELECT model, preact_kg, flow_kg_per_s, fills FROM preacts WHERE post = ?').all(post) as {
      model: string;
      preact_kg: number;
      flow_kg_per_s: number | null;
      fills: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.model, { preactKg: r.preact_kg, fills: r.fills, ...(r.flow_kg_per_s !== null ? { flowKgPerS: r.flow_kg_per_s } : {}) }]));
  }

  private upsert?: Database.Statement;

  /**
   * Not synced (synchronous=NORMAL, WAL): a learned value is worth keeping across a restart, not an
   * fsync on the posts' loop after every fill; a power cut loses at most the last fills' learning.
   */
  save(post: string, model: string, e: PreactEntry): void {
    this.upsert ??= this.db.prepare(
      `INSERT INTO preacts (post, model, preact_kg, flow_kg_per_s, fills) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(post, model) DO UPDATE SET preact_kg = excluded.preact_kg, flow_kg_per_s = excluded.flow_kg_per_s, fills = excluded.fills, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')`,
    );
    this.db.pragma('synchronous = NORMAL');
    try {
      this.upsert.run(post, model, e.preactKg, e.flowKgPerS ?? null, e.fills);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }
}
