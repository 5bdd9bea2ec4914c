/**
 * Adaptive polling (issue 14 point 3): a post's scale polls at its configured
 * rate whenever anything is on it or going on at the post, and at idlePollHz
 * only while the post has no attempt and the platform is empty. It goes fast
 * at once on a code read, on a reading of something on the platform (a
 * cylinder placed) and on every phase that is not idle-like, so a filling
 * post's weight never waits for a slow poll: the controller's stale limit
 * (fill.staleAfterPolls at pollHz) only applies while filling, always fast.
 */
import type { ReaderDriver, ScaleDriver } from '../../devices/types.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { Signal } from '../../protocols/signal.ts';

/** Below this the platform is empty: well under any cylinder's tare (YSP4.7: about 5 kg). */
export const EMPTY_BELOW_KG = 0.5;
/** A code read keeps the scale fast this long even if the post refuses it at once (ms). */
const AFTER_READ_MS = 5000;
/** Phases with no attempt under way (controller/before-fill.ts onIdle). */
const IDLE_LIKE = new Set(['idle', 'closedOut', 'aborted']);

export interface PacedPost<E extends { kind: string } = { kind: string }> {
  readonly snapshot: { phase: { kind: string } };
  readonly events: Pick<Signal<E>, 'on'>;
}

/** Keeps `scale` at the right pace; returns the unsubscribe. A scale that cannot change pace is left alone. */
export function paceScale<E extends { kind: string }>(scale: ScaleDriver, reader: ReaderDriver, post: PacedPost<E>, clock: Clock): () => void {
  if (!scale.setPace) return () => undefined;
  const setPace = scale.setPace.bind(scale);
  let lastGross: number | undefined;
  let lastReadAt = -Infinity;
  const update = () => {
    const idle =
      IDLE_LIKE.has(post.snapshot.phase.kind) && lastGross !== undefined && lastGross < EMPTY_BELOW_KG && clock.now() - lastReadAt > AFTER_READ_MS;
    setPace(idle ? 'idle' : 'fast');
  };
  const subs = [
    scale.samples.on((s) => {
      lastGross = s.grossKg;
      update();
    }),
    reader.reads.on(() => {
      lastReadAt = clock.now();
      setPace('fast');
    }),
    post.events.on((e) => e.kind === 'phase' && update()),
  ];
  return () => subs.forEach((off) => off());
}
