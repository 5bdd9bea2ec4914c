/**
 * Upload timeliness (issue 5 §2; domain.md 1, seed 000: a unit whose uploads
 * are late may not fill). The age of the oldest record not yet acknowledged
 * is always known; past warnAgeMs it warns, past the optional lockAgeMs new
 * fills are refused with STATION_LOCKED_UPLOAD until the backlog clears.
 */
import type { Clock } from '../../protocols/clock.ts';
import type { RefusalCode } from '../reasons.ts';
import { timelinessConfigSchema, type TimelinessConfig } from '../records/config.ts';
import type { RecordStore } from '../records/store.ts';

export interface Timeliness {
  state: 'ok' | 'warn' | 'lock';
  oldestUnackedSeq?: number;
  /** 0 when nothing is waiting. */
  oldestUnackedAgeMs: number;
  warnAgeMs: number;
  lockAgeMs?: number;
}

/**
 * Age by the monotonic clock when the record was made in this run (a PC clock
 * jump cannot change it); by wall time for records of an earlier run.
 */
export function uploadTimeliness(store: RecordStore, clock: Clock, cfg: Partial<TimelinessConfig> = {}): Timeliness {
  const c = timelinessConfigSchema.parse(cfg);
  const oldest = store.oldestPending();
  if (!oldest) return { state: 'ok', oldestUnackedAgeMs: 0, warnAgeMs: c.warnAgeMs, lockAgeMs: c.lockAgeMs };
  const age = oldest.boot === store.boot ? clock.now() - oldest.mono_ms : clock.wall() - oldest.wall_ms;
  const ageMs = Math.max(0, Math.round(age));
  const state = c.lockAgeMs !== undefined && ageMs >= c.lockAgeMs ? 'lock' : ageMs >= c.warnAgeMs ? 'warn' : 'ok';
  return { state, oldestUnackedSeq: oldest.seq, oldestUnackedAgeMs: ageMs, warnAgeMs: c.warnAgeMs, lockAgeMs: c.lockAgeMs };
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
  if (t.state === 'lock') locks.push({ code: 'STATION_LOCKED_UPLOAD', detail: `oldest unacknowledged record seq ${t.oldestUnackedSeq} is ${Math.round(t.oldestUnackedAgeMs / 1000)} s old (lock at ${Math.round((t.lockAgeMs ?? 0) / 1000)} s)` });
  return locks;
}
