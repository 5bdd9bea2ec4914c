/**
 * Connects the live locks to the persistent latches (latches.ts): restores them at start, and
 * records each set, raise, lift and refused reset with who did it (issue 9 point 4).
 */
import { errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { Unsubscribe } from '../../protocols/signal.ts';
import type { LeakService } from '../leak/service.ts';
import type { AlarmLevel } from '../leak/interlock.ts';
import type { Logger } from '../log.ts';
import { tripReasons, type TripCode } from '../reasons.ts';
import type { LatchStore } from './latches.ts';
import type { PostRuntime } from './post.ts';

/** A latch that could not be written must not go unnoticed; it must not stop the safety path either. */
function guarded(log: Logger, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error({ err: errorMessage(err), what }, 'latch NOT persisted: a restart would lift it');
  }
}

/**
 * Restores a leak lock latched by the previous run, then persists every lock (with its highest
 * level) and lifts it only on a recorded supervisor reset (CJ/T 394; domain.md 5).
 */
export function attachLeakLatch(latches: LatchStore, leak: LeakService, clock: Clock, log: Logger): Unsubscribe {
  const saved = latches.get('leak');
  if (saved) {
    const level = Math.max(1, Math.min(2, Number(saved.data?.level ?? 1))) as AlarmLevel;
    log.warn({ since: saved.since, level, detail: saved.detail }, 'leak lock restored from the previous run: a supervisor must reset it');
    leak.apply({ type: 'restore', level, at: clock.now() });
  }
  const persist = () => {
    if (!leak.locked) return;
    const s = leak.interlock.state;
    const reasons = Object.entries(s.detectors)
      .filter(([, d]) => d.level > 0 || d.fault || d.silent)
      .map(([id, d]) => `${id}: ${d.level > 0 ? `level ${d.level}` : d.fault ? 'fault' : 'silent'}`);
    guarded(log, 'leak', () => latches.set('leak', 'LEAK_ALARM', reasons.join('; ') || undefined, { level: s.latchedLevel }, 'leak interlock'));
  };
  persist();
  const offs = [
    leak.lock.on(persist),
    // A level-1 lock escalating to level 2 raises the stored level.
    leak.alarms.on(persist),
    leak.resets.on((r) => guarded(log, 'leak', () => latches.lift('leak', r.badge))),
  ];
  return () => offs.forEach((off) => off());
}

/** A supervisor's leak reset (badge or dashboard); a refusal is kept in the history too. */
export function resetLeakLatch(latches: LatchStore, leak: LeakService, by: string, log: Logger): { ok: boolean; reasons: string[] } {
  const r = leak.reset(by);
  if (!r.ok) guarded(log, 'leak', () => latches.note('leak', 'refused', by, 'RESET_REFUSED', r.reasons.join('; ')));
  return r;
}

/** The fault a post was left in by the previous run, to start in (controller `initialState`). */
export function savedFault(latches: LatchStore, post: string): { reason: TripCode; attemptId?: string } | undefined {
  const l = latches.get(`post:${post}`);
  if (!l) return undefined;
  const reason = (l.reason in tripReasons ? l.reason : 'CONTROLLER_ERROR') as TripCode;
  const attemptId = typeof l.data?.attemptId === 'string' ? l.data.attemptId : undefined;
  return { reason, ...(attemptId ? { attemptId } : {}) };
}

/** Persists a post's fault as it enters it; lifts it when a reset takes the post out, naming who reset. */
export function trackPostFault(latches: LatchStore, rt: PostRuntime, log: Logger): Unsubscribe {
  let was: string = rt.snapshot.phase.kind;
  return rt.events.on((e) => {
    if (e.kind !== 'phase') return;
    const name = `post:${e.post}` as const;
    if (e.phase === 'fault') guarded(log, name, () => latches.set(name, e.reason ?? 'CONTROLLER_ERROR', undefined, e.attemptId ? { attemptId: e.attemptId } : undefined, 'controller'));
    else if (was === 'fault') guarded(log, name, () => latches.lift(name, e.by ?? 'unknown'));
    was = e.phase;
  });
}
