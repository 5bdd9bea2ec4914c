/**
 * Plausibility of a stream scale's readings (issue 12 point 11). A frame can pass its
 * format's checks and still be wrong: Toledo without its checksum and ASCII lines have no
 * check at all (one bit flip turns 16.52 into -16.52), and XK3190-A9's XOR and Toledo's
 * additive checksum do not see two digits swapped (16.52 → 61.52). What physics allows:
 *
 * - the gross moves by at most what the flow can bring between two frames (domain.md 4:
 *   10-30 kg/min) plus `jumpKg` of noise and rounding;
 * - a bigger step is real when a cylinder is placed or lifted (5-70 kg), but then it stays:
 *   a new level is accepted once `confirmFrames` consecutive frames agree on it, and the
 *   frames before that are discarded and counted; the first reading after start is such a
 *   new level too (no frame is trusted on its own);
 * - a sign flip of a weight clearly off zero is such a step whatever the time between frames;
 * - beyond the capacity (+10 %), or below −10 % of it, is never a weight; an overloaded
 *   indicator says so with its flag, and an overload frame always passes (it stops fills).
 *
 * Pure: time comes with each reading.
 */

export interface PlausibilityOptions {
  /** Scale capacity (kg); readings beyond 110 % of it, or below −10 %, are discarded. Default: none. */
  capacityKg?: number;
  /** The fastest a fill can add mass (kg/min). Default 30 (domain.md 4: 10-30 kg/min). */
  maxFlowKgPerMin?: number;
  /** Change between frames always allowed on top of the flow: noise, rounding (kg). Default 0.5. */
  jumpKg?: number;
  /** Consecutive agreeing frames that make a step (placement, lift) real. Default 3. */
  confirmFrames?: number;
}

export type PlausibilityVerdict = { ok: true } | { ok: false; reason: string };

interface Level {
  kg: number;
  at: number;
}

export class PlausibilityFilter {
  private readonly capacityKg: number | undefined;
  private readonly kgPerMs: number;
  private readonly jumpKg: number;
  private readonly confirmFrames: number;
  private accepted: Level | undefined;
  private candidate: (Level & { count: number }) | undefined;

  constructor(opts: PlausibilityOptions = {}) {
    this.capacityKg = opts.capacityKg;
    this.kgPerMs = (opts.maxFlowKgPerMin ?? 30) / 60_000;
    this.jumpKg = opts.jumpKg ?? 0.5;
    this.confirmFrames = Math.max(1, Math.round(opts.confirmFrames ?? 3));
  }

  /** Judges one gross reading taken at `at` (ms). */
  check(kg: number, at: number, overload: boolean): PlausibilityVerdict {
    if (overload) return { ok: true };
    if (!Number.isFinite(kg)) return { ok: false, reason: `weight ${kg} is not a number` };
    const cap = this.capacityKg;
    if (cap !== undefined && (kg > cap * 1.1 || kg < -cap * 0.1)) {
      return { ok: false, reason: `${kg} kg is beyond the scale's capacity of ${cap} kg and no overload flag is set` };
    }
    const ref = this.accepted;
    if (ref && this.follows(ref, kg, at)) return this.accept(kg, at);
    const c = this.candidate;
    this.candidate = c && this.follows(c, kg, at) ? { kg, at, count: c.count + 1 } : { kg, at, count: 1 };
    if (this.candidate.count >= this.confirmFrames) return this.accept(kg, at);
    const held = `held until ${this.confirmFrames} frames agree`;
    if (!ref) return { ok: false, reason: `first reading ${kg} kg, ${held}` };
    const dt = Math.max(0, at - ref.at);
    const what = this.signFlip(ref.kg, kg) ? 'sign flip' : 'jump';
    return { ok: false, reason: `${what} from ${ref.kg} to ${kg} kg in ${Math.round(dt)} ms is more than flow allows: ${held}` };
  }

  /** Forget the levels (a new scale, a long outage). */
  reset(): void {
    this.accepted = undefined;
    this.candidate = undefined;
  }

  private accept(kg: number, at: number): PlausibilityVerdict {
    this.accepted = { kg, at };
    this.candidate = undefined;
    return { ok: true };
  }

  private follows(prev: Level, kg: number, at: number): boolean {
    if (this.signFlip(prev.kg, kg)) return false;
    const dt = Math.max(0, at - prev.at);
    return Math.abs(kg - prev.kg) <= this.jumpKg + this.kgPerMs * dt + 1e-9;
  }

  private signFlip(a: number, b: number): boolean {
    return (a > this.jumpKg && b < -this.jumpKg) || (a < -this.jumpKg && b > this.jumpKg);
  }
}

/**
 * Motion and overload flags of a format without a check character (issue 12 point 11): one
 * flipped bit must not make a moving weight stable or an overloaded scale in range. Setting
 * a flag counts at once (the safe side); clearing it counts once `frames` frames agree.
 */
export class FlagDebounce {
  private stableRun = 0;
  private inRangeRun: number;

  constructor(private readonly frames = 3) {
    this.inRangeRun = frames;
  }

  apply(stable: boolean, overload: boolean): { stable: boolean; overload: boolean } {
    this.stableRun = stable && !overload ? this.stableRun + 1 : 0;
    this.inRangeRun = overload ? 0 : this.inRangeRun + 1;
    return { stable: this.stableRun >= this.frames, overload: this.inRangeRun < this.frames };
  }

  reset(): void {
    this.stableRun = 0;
  }
}
