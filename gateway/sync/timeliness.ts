/**
 * Upload timeliness (issue 5 §2; domain.md 1, seed 000: a unit whose uploads
 * are late may not fill). The age of the oldest record not yet acknowledged
 * is always known; past warnAgeMs it warns, past lockAgeMs (24 h by default,
 * issue 10 point 8) new fills are refused with STATION_LOCKED_UPLOAD until the
 * backlog clears. Rejected records count as not uploaded.
 */
import type { Clock } from '../../protocols/clock.ts';
import type { RefusalCode } from '../reasons.ts';
import { timelinessConfigSchema, type TimelinessConfig } from '../records/config.ts';
import type { RecordStore } from '../records/store.ts';

export interface Timeliness {
  state: 'ok' | 'warn' | 'lock';
  /** The oldest record not uploaded: waiting, or rejected by the platform and not resolved. */
  oldestUnackedSeq?: number;
  /** 0 when nothing is waiting. */
  oldestUnackedAgeMs: number;
  warnAgeMs: number;
  /** Undefined when the lock is off. */
  lockAgeMs?: number;
  /** Records the platform rejected that are not resolved yet (present only when there are some). */
  rejected?: number;
  /** Why the oldest record is not uploaded, when the platform rejected it. */
  oldestRejectReason?: string;
}

/**
 * Age by the monotonic clock when the record was made in this run (a PC clock
 * jump cannot change it); by wall time for records of an earlier run. A record
 * the platform rejected (inaccurate data, issue 10 point 8) is not uploaded: it
 * ages like a waiting one and warns at once, until it is sent again and accepted
 * or a supervisor settles it (RecordStore.resendRejected / settleRejected).
 */
export function uploadTimeliness(store: RecordStore, clock: Clock, cfg: Partial<TimelinessConfig> = {}): Timeliness {
  const c = timelinessConfigSchema.parse(cfg);
  const lockAgeMs = c.lockAgeMs ?? undefined;
  const oldest = store.oldestNotUploaded();
  if (!oldest) return { state: 'ok', oldestUnackedAgeMs: 0, warnAgeMs: c.warnAgeMs, lockAgeMs };
  const rejected = store.rejectedCount();
  const age = oldest.boot === store.boot ? clock.now() - oldest.mono_ms : clock.wall() - oldest.wall_ms;
  const ageMs = Math.max(0, Math.round(age));
  const state = lockAgeMs !== undefined && ageMs >= lockAgeMs ? 'lock' : ageMs >= c.warnAgeMs || rejected > 0 ? 'warn' : 'ok';
  return {
    state, oldestUnackedSeq: oldest.seq, oldestUnackedAgeMs: ageMs, warnAgeMs: c.warnAgeMs, lockAgeMs,
    ...(rejected > 0 ? { rejected } : {}), ...(oldest.reject_reason ? { oldestRejectReason: oldest.reject_reason } : {}),
  };
}

/**
 * The timeliness settings a station runs with: its upload target's, or none at all without
 * one (records kept locally only have nothing to be late for; config check warns about that).
 */
export function stationTimeliness(upload: { timeliness?: Partial<TimelinessConfig> } | undefined): Partial<TimelinessConfig> {
  return upload ? (upload.timeliness ?? {}) : { lockAgeMs: null };
}

export interface FillLock {
  code: RefusalCode;
  detail: string;
}

/** What the records side says about starting a new fill: empty = allowed. The post controller refuses with these codes. */
export function recordFillLocks(store: RecordStore, clock: Clock, cfg: Partial<TimelinessConfig> = {}): FillLock[] {
  const locks: FillLock[] = [];
  const h = store.storeHealth();
  if (h.nearFull) locks.push({ code: 'STATION_LOCKED_STORE', detail: `record store ${h.bytes} of ${h.limitBytes} bytes${h.diskFreeBytes !== undefined ? `, ${h.diskFreeBytes} bytes free on disk` : ''}` });
  const t = uploadTimeliness(store, clock, cfg);
  if (t.state === 'lock') {
    const why = t.oldestRejectReason ? ` (rejected by the platform: ${t.oldestRejectReason}; send it again or settle it)` : '';
    const more = t.rejected ? `, ${t.rejected} rejected record(s) unresolved` : '';
    locks.push({ code: 'STATION_LOCKED_UPLOAD', detail: `oldest record not uploaded, seq ${t.oldestUnackedSeq}${why}, is ${Math.round(t.oldestUnackedAgeMs / 1000)} s old (lock at ${Math.round((t.lockAgeMs ?? 0) / 1000)} s)${more}` });
  }
  return locks;
}
