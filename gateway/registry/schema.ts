/**
 * Registry tables and their migrations. The gateway may keep other stores in
 * the same SQLite file, so the migration table is the registry's own.
 * A migration is only ever appended, never edited.
 */
import type { Database } from 'better-sqlite3';
import { FillgateError } from '../../protocols/errors.ts';

export const migrations: string[] = [
  // 1: cylinders, operators and the change log.
  `CREATE TABLE cylinders (
     code TEXT PRIMARY KEY,
     valve_code TEXT UNIQUE,
     owner_unit TEXT NOT NULL,
     model TEXT NOT NULL,
     water_volume_l REAL,
     allowed_fill_kg REAL,
     tare_kg REAL,
     medium TEXT NOT NULL CHECK (medium IN ('LPG', 'DME')),
     manufactured_on TEXT,
     design_life_years INTEGER,
     next_inspection_due TEXT,
     status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'quarantined', 'scrapped')),
     fill_count INTEGER NOT NULL DEFAULT 0,
     last_fill_at TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX cylinders_status ON cylinders (status);
   CREATE INDEX cylinders_inspection ON cylinders (next_inspection_due);
   CREATE TABLE operators (
     badge TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     roles TEXT NOT NULL,
     certificate_no TEXT,
     certificate_expires TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE registry_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     kind TEXT NOT NULL,
     subject TEXT NOT NULL,
     reason TEXT,
     source TEXT,
     data TEXT
   );
   CREATE INDEX registry_events_subject ON registry_events (subject, id);`,
  // 2: fields the standards require (issue 10 point 7). Existing rows: valve phase, use
  // registration, maker and e-ID unknown (NULL: refused where the rule needs them until a
  // re-import supplies them), refillable, no purge pending (they are in service already).
  `ALTER TABLE cylinders ADD COLUMN valve_phase TEXT CHECK (valve_phase IN ('gas', 'liquid', 'dual'));
   ALTER TABLE cylinders ADD COLUMN use_registration_no TEXT;
   ALTER TABLE cylinders ADD COLUMN maker TEXT;
   ALTER TABLE cylinders ADD COLUMN e_id TEXT;
   ALTER TABLE cylinders ADD COLUMN registered_on TEXT;
   ALTER TABLE cylinders ADD COLUMN last_inspected_on TEXT;
   ALTER TABLE cylinders ADD COLUMN refillable INTEGER NOT NULL DEFAULT 1 CHECK (refillable IN (0, 1));
   ALTER TABLE cylinders ADD COLUMN purge_required INTEGER NOT NULL DEFAULT 0 CHECK (purge_required IN (0, 1));
   CREATE UNIQUE INDEX cylinders_e_id ON cylinders (e_id) WHERE e_id IS NOT NULL;`,
  // 3: overfill hold (issue 10 point 3): an overfilled cylinder is held until a supervisor records its decant.
  `CREATE TABLE decants (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     code TEXT NOT NULL REFERENCES cylinders (code),
     attempt_id TEXT,
     held_at TEXT NOT NULL,
     over_kg REAL,
     decanted_at TEXT,
     removed_kg REAL,
     decanted_by TEXT,
     note TEXT
   );
   CREATE INDEX decants_pending ON decants (code, decanted_at);`,
];

/** Bring the registry tables up to the latest version; returns that version. */
export function migrate(db: Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS registry_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM registry_migrations').get() as { v: number | null };
  let version = row.v ?? 0;
  if (version > migrations.length)
    throw new FillgateError('STORE_ERROR', `registry schema version ${version} is newer than this gateway knows (${migrations.length}): refusing to run on it`, { version });
  const apply = db.transaction((v: number) => {
    db.exec(migrations[v - 1]);
    db.prepare('INSERT INTO registry_migrations (version, applied_at) VALUES (?, ?)').run(v, new Date().toISOString());
  });
  while (version < migrations.length) apply(++version);
  return version;
}
