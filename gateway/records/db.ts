/**
 * The station's record database: schema, pragmas and the append-only guards.
 * Fill records are committed with synchronous=FULL (a record acknowledged to
 * the operator survives power loss); WAL keeps readers (uploader, CLI) from
 * blocking the writer.
 */
import Database from '../sqlite.ts';
import { existsSync } from 'node:fs';
import { FillgateError } from '../../protocols/errors.ts';

export type Db = Database.Database;

/**
 * Upload status. rejected: the platform refused the record (inaccurate data); it counts as not
 * uploaded (issue 10 point 8) until sent again (back to pending) or settled: a supervisor
 * recorded how it was resolved with the platform (reject_reason keeps both).
 */
export const RECORD_STATUS = { pending: 0, acked: 1, rejected: 2, settled: 3 } as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  wall_ms INTEGER NOT NULL,
  mono_ms REAL NOT NULL,
  boot TEXT NOT NULL,
  body TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  status_wall_ms INTEGER,
  reject_reason TEXT
);
CREATE INDEX IF NOT EXISTS records_pending ON records(seq) WHERE status = 0;
-- Rejected and settled records are few: their counts and the oldest not uploaded come from these
-- small indexes, never from a scan of the table (store.ts recordCounts, oldestNotUploaded).
CREATE INDEX IF NOT EXISTS records_rejected ON records(seq) WHERE status = 2;
CREATE INDEX IF NOT EXISTS records_settled ON records(seq) WHERE status = 3;
CREATE INDEX IF NOT EXISTS records_wall ON records(wall_ms);
-- Append-only: the signed columns never change; only the upload status may.
CREATE TRIGGER IF NOT EXISTS records_append_only BEFORE UPDATE OF seq, id, hash, wall_ms, mono_ms, boot, body ON records
BEGIN SELECT RAISE(ABORT, 'fill records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_keep_unacked BEFORE DELETE ON records WHEN OLD.status = 0
BEGIN SELECT RAISE(ABORT, 'an unacknowledged fill record cannot be deleted'); END;
CREATE TABLE IF NOT EXISTS records_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records_in_progress (
  post TEXT PRIMARY KEY,
  attempt_id TEXT NOT NULL,
  attempt TEXT NOT NULL,
  since_wall_ms INTEGER NOT NULL,
  stage TEXT,
  updated_wall_ms INTEGER
);
`;

/** Columns added since the first schema (a journal left by an older version is still read). */
function migrate(db: Db): void {
  const cols = new Set((db.prepare('PRAGMA table_info(records_in_progress)').all() as { name: string }[]).map((c) => c.name));
  if (!cols.has('stage')) db.exec('ALTER TABLE records_in_progress ADD COLUMN stage TEXT');
  if (!cols.has('updated_wall_ms')) db.exec('ALTER TABLE records_in_progress ADD COLUMN updated_wall_ms INTEGER');
}

/** Open (or adopt) a database and make sure the record tables exist. */
export function openRecordsDb(db: Db | string, opts: { readonly?: boolean } = {}): { db: Db; owned: boolean } {
  const owned = typeof db === 'string';
  if (typeof db === 'string' && opts.readonly && db !== ':memory:' && !existsSync(db)) {
    throw new FillgateError('BAD_CONFIG', `no record database at ${db} (check dataDir in the config)`, { path: db });
  }
  const handle = typeof db === 'string' ? new Database(db, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false }) : db;
  if (!handle.readonly) {
    if (handle.name !== ':memory:' && handle.name !== '') handle.pragma('journal_mode = WAL');
    handle.pragma('synchronous = FULL');
    handle.pragma('busy_timeout = 5000');
    handle.exec(SCHEMA);
    migrate(handle);
  }
  return { db: handle, owned };
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM records_meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO records_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}

export interface StoredRow {
  seq: number;
  id: string;
  hash: string;
  wall_ms: number;
  mono_ms: number;
  boot: string;
  body: string;
  status: number;
  status_wall_ms: number | null;
  reject_reason: string | null;
}
