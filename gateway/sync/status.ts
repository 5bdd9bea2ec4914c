/**
 * `fillgate sync status`: backlog, the oldest unacknowledged record and its
 * age, the last success and last error. Works from the database alone (the CLI
 * runs in its own process), so ages are by wall time here.
 */
import { getMeta, openRecordsDb, type Db } from '../records/db.ts';
import { recordCounts, type StoreCounts } from '../records/store.ts';

export interface SyncStatus extends StoreCounts {
  oldestUnacked?: { seq: number; recordedAt: string; ageMs: number };
  lastSuccessAt?: string;
  lastErrorAt?: string;
  lastError?: string;
  rejectedRecords: { seq: number; reason: string }[];
}

/** `iso` writes the times (the CLI passes the station's offset: gateway/station-time.ts). */
export function syncStatus(dbOrPath: Db | string, now: number = Date.now(), iso: (epochMs: number) => string = (ms) => new Date(ms).toISOString()): SyncStatus {
  const { db, owned } = openRecordsDb(dbOrPath, { readonly: typeof dbOrPath === 'string' });
  try {
    const counts = recordCounts(db);
    // Rejected records are not uploaded either (issue 10 point 8).
    const oldest = db.prepare('SELECT seq, wall_ms, body FROM records WHERE status IN (0, 2) ORDER BY seq LIMIT 1').get() as { seq: number; wall_ms: number; body: string } | undefined;
    const metaTime = (key: string) => {
      const v = getMeta(db, key);
      return v === undefined ? undefined : iso(Number(v));
    };
    const rejected = db.prepare('SELECT seq, reject_reason AS reason FROM records WHERE status = 2 ORDER BY seq LIMIT 20').all() as { seq: number; reason: string }[];
    return {
      ...counts,
      oldestUnacked: oldest ? { seq: oldest.seq, recordedAt: (JSON.parse(oldest.body) as { recordedAt: string }).recordedAt, ageMs: Math.max(0, now - oldest.wall_ms) } : undefined,
      lastSuccessAt: metaTime('sync_last_success_wall_ms'),
      lastErrorAt: metaTime('sync_last_error_wall_ms'),
      lastError: getMeta(db, 'sync_last_error'),
      rejectedRecords: rejected,
    };
  } finally {
    if (owned) db.close();
  }
}

export function formatSyncStatus(s: SyncStatus): string {
  const lines = [
    `records: ${s.total} (seq ${s.firstSeq ?? '-'}..${s.lastSeq ?? '-'}), acknowledged ${s.acked}, waiting ${s.pending}, rejected by the platform ${s.rejected}`,
    s.oldestUnacked ? `oldest unacknowledged: seq ${s.oldestUnacked.seq}, made ${s.oldestUnacked.recordedAt}, ${Math.round(s.oldestUnacked.ageMs / 1000)} s ago` : 'oldest unacknowledged: none (all sent)',
    `last successful upload: ${s.lastSuccessAt ?? 'never'}`,
  ];
  if (s.lastError) lines.push(`last error (${s.lastErrorAt}): ${s.lastError}`);
  for (const r of s.rejectedRecords) lines.push(`  rejected seq ${r.seq}: ${r.reason}`);
  return lines.join('\n');
}
