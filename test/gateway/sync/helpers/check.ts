/** After a chaos run: the receiver holds seq 1..n exactly once, each linked to the one before and validly signed. */
import Database from '../../../../gateway/sqlite.ts';
import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH } from '../../../../gateway/records/canonical.ts';
import { recordHash, verifySignature, type FillRecordV1 } from '../../../../gateway/records/record.ts';

export function receivedChainProblems(dbPath: string, station: string, n: number, key: KeyObject): string[] {
  const db = new Database(dbPath, { readonly: true });
  const problems: string[] = [];
  try {
    const total = (db.prepare('SELECT COUNT(*) AS c, COUNT(DISTINCT id) AS ids FROM received WHERE station = ?').get(station) as { c: number; ids: number });
    if (total.c !== n || total.ids !== n) problems.push(`expected ${n} records with ${n} ids, found ${total.c} rows and ${total.ids} ids`);
    let prev = { seq: 0, hash: GENESIS_HASH };
    for (const row of db.prepare('SELECT seq, hash, prev_hash, body FROM received WHERE station = ? ORDER BY seq').iterate(station) as IterableIterator<{ seq: number; hash: string; prev_hash: string; body: string }>) {
      const rec = JSON.parse(row.body) as FillRecordV1;
      if (row.seq !== prev.seq + 1) problems.push(`seq ${prev.seq} is followed by ${row.seq}`);
      if (row.prev_hash !== prev.hash || rec.prevHash !== prev.hash) problems.push(`seq ${row.seq} does not link to seq ${prev.seq}`);
      if (recordHash(rec) !== row.hash) problems.push(`seq ${row.seq}: stored hash does not match its body`);
      if (!verifySignature(rec, key)) problems.push(`seq ${row.seq}: bad signature`);
      prev = { seq: row.seq, hash: row.hash };
      if (problems.length > 10) break;
    }
  } finally {
    db.close();
  }
  return problems;
}
