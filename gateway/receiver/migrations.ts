/**
 * Versioned schema migrations of the receiver's two stores (issue 11 point 1). Each store
 * keeps `schema_migrations(version, name, applied_ms)`; at start the missing migrations run
 * in order, each in its own transaction (on PostgreSQL under an advisory lock, so nodes that
 * start together migrate once), and a database whose version is newer than the code's is
 * refused: an older node must not write to a schema it does not know.
 *
 * Migration 1 is today's SQLite schema with `IF NOT EXISTS`, so a receiver.db made before
 * issue 11 is adopted as version 1 and moved on from there.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'records and events chains',
    sql: `
CREATE TABLE IF NOT EXISTS stations (code TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS received (
  station TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, lag_ms INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE INDEX IF NOT EXISTS received_time ON received(station, recorded_ms);
CREATE TABLE IF NOT EXISTS rejections (station TEXT, id TEXT, seq INTEGER, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS received_events (
  station TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  kind TEXT NOT NULL, recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE INDEX IF NOT EXISTS received_events_time ON received_events(station, recorded_ms);
CREATE TABLE IF NOT EXISTS event_rejections (station TEXT, id TEXT, seq INTEGER, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);`,
  },
  {
    version: 2,
    name: 'station keys: rotation and revocation',
    // The keys already in `stations` are copied in by the store (the fingerprint is computed in JS).
    sql: `
CREATE TABLE station_keys (
  station TEXT NOT NULL, fp TEXT NOT NULL, public_key TEXT NOT NULL, added_ms INTEGER NOT NULL,
  revoked_after_ms INTEGER, via TEXT NOT NULL, PRIMARY KEY (station, fp)
);
CREATE INDEX rejections_station ON rejections(station);
CREATE INDEX event_rejections_station ON event_rejections(station);`,
  },
  {
    version: 3,
    name: "inspector's reports: cylinder and outcome columns, event kinds",
    // The columns `cylinder`, `outcome` are added by the store when missing (a database made
    // by the receiver of the reports' first release already has them) and filled from the bodies.
    sql: `
CREATE INDEX IF NOT EXISTS received_cylinder ON received(cylinder, recorded_ms);
CREATE INDEX IF NOT EXISTS received_events_kind ON received_events(kind, recorded_ms);`,
  },
];

export const PG_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'records (partitioned by month) and events chains, station keys',
    sql: `
-- last_received_ms: the doctor's lag without scanning "received"; pruned_before_seq: seqs below were dropped by retention, not missing.
CREATE TABLE stations (code TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_ms BIGINT NOT NULL, last_received_ms BIGINT, pruned_before_seq BIGINT);
CREATE TABLE station_keys (
  station TEXT NOT NULL, fp TEXT NOT NULL, public_key TEXT NOT NULL, added_ms BIGINT NOT NULL,
  revoked_after_ms BIGINT, via TEXT NOT NULL, PRIMARY KEY (station, fp)
);
-- The chain's keys: PK (station, seq) and UNIQUE (station, id) cannot be enforced across the
-- monthly partitions of "received" (a unique key there must contain the partition column), so
-- this narrow table holds them and every insert goes through it first, in the same transaction.
CREATE TABLE received_index (
  station TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  recorded_ms BIGINT NOT NULL, PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE TABLE received (
  station TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  recorded_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, lag_ms BIGINT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (station, seq, recorded_ms)
) PARTITION BY RANGE (recorded_ms);
-- Records whose month has no partition (a station clock years off) land here.
CREATE TABLE received_default PARTITION OF received DEFAULT;
CREATE INDEX received_time ON received (station, recorded_ms);
CREATE TABLE rejections (station TEXT, id TEXT, seq BIGINT, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE INDEX rejections_station ON rejections (station);
CREATE TABLE received_events (
  station TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  kind TEXT NOT NULL, recorded_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE INDEX received_events_time ON received_events (station, recorded_ms);
CREATE TABLE event_rejections (station TEXT, id TEXT, seq BIGINT, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE INDEX event_rejections_station ON event_rejections (station);`,
  },
  {
    version: 2,
    name: "inspector's reports: expression indexes on the body, event kinds",
    // The reports look a cylinder up across all stations and join fills of one code at two
    // stations (reports.ts, pg-report-source.ts): the body is kept as the station sent it
    // (TEXT, byte for byte), and these indexes are on the same expressions the queries use.
    // On the partitioned table the index is made on every partition, present and future.
    sql: `
CREATE INDEX received_cylinder ON received (((body::jsonb) ->> 'cylinderCode'), recorded_ms);
CREATE INDEX received_events_kind ON received_events (kind, recorded_ms);`,
  },
  {
    version: 3,
    name: 'cylinder and outcome as columns (as on SQLite), filled by the receiver',
    // The expression index of migration 2 parsed every body as jsonb on insert, the largest
    // share of the server's work per record (issue 11 point 4). The receiver reads both
    // fields when it verifies a record (prepare.ts), so they are written beside the body;
    // rows already stored get them from their bodies once, here.
    sql: `
ALTER TABLE received ADD COLUMN cylinder TEXT, ADD COLUMN outcome TEXT;
UPDATE received SET cylinder = (body::jsonb) ->> 'cylinderCode', outcome = (body::jsonb) ->> 'outcome';
DROP INDEX received_cylinder;
CREATE INDEX received_cylinder ON received (cylinder, recorded_ms);`,
  },
];

export const latestVersion = (ms: Migration[]): number => ms[ms.length - 1].version;

/** The refusal when the database is ahead of the code. */
export function newerSchemaError(dbVersion: number, codeVersion: number): Error {
  return new Error(`the receiver database has schema version ${dbVersion}, newer than this receiver's ${codeVersion}: run the newer fillgate (refusing to start)`);
}
