/**
 * Where to cut off, and how long to pulse when topping up (issue 14 point 2: every fill accurate,
 * the first one too). Pure arithmetic on the valve's timing as learned from the wire.
 *
 * The gas still arriving after a close decision is flow × D, where D (the "close dead time") is
 * the bus latency, the relay and the valve's closing lag (domain.md 4: 50-200 ms, varying per
 * fill). D is measured on every fill from the weight curve: (settled gross − fitted gross at the
 * decision) / flow. A top-up pulse of length P delivers flow × (P + D − O), O being the open dead
 * time (decision → first gas), taken from where the fitted flow line meets the start weight.
 *
 * Three ways to cut off (the plan is recorded in the fill record as `cutPlan`):
 * - conservative: the valve's timing is not learned (first fill, a new cylinder model, a valve
 *   that changed). Cut at target − flow × (largest plausible D), leaving room for one top-up
 *   pulse, then top up: the first fill never overshoots and still ends at the target.
 * - single: learned, and the fill-to-fill spread of D at this flow fits within singleShotKg:
 *   one cut at target − flow × D.
 * - twoStage: learned, but a slow valve at a high flow spreads more than that: cut short by the
 *   spread and a minimal pulse, measure this fill's D, and finish with one pulse sized from it.
 */
import type { ControllerConfig } from './config.ts';

/** Learned timing of one post's valve (the runtime persists it per post and valve). */
export interface ValveTiming {
  /** Close decision → end of flow (ms): bus, relay and valve lag, from the weight curve. */
  closeMs: number;
  /** Mean absolute fill-to-fill change of closeMs (ms). */
  spreadMs: number;
  /** Open decision → first gas (ms), from the weight curve of the main fill and of pulses. */
  openMs?: number;
  /** OFF on the wire → the relay module's feedback input shows closed (ms), where it has one. */
  feedbackMs?: number;
  /** ON on the wire → first gas (ms): the valve's opening, learned from the weight each top-up pulse added, and its variance (ms²). */
  openLagMs?: number;
  openLagVar?: number;
  /** Fills learned from since the last change; 0 = not learned: cut conservatively. */
  fills: number;
}

export type CutPlan = 'conservative' | 'single' | 'twoStage';

/** Settings of the cut-off planner (`fill.cutoff`). */
export interface CutoffConfig {
  /** Largest plausible valve closing lag (ms): domain.md 4, 200 ms + 10 % per-fill spread. */
  lagMaxMs: number;
  /** Room for the bus and the event loop between a close decision and the OFF on the wire (ms). */
  busMarginMs: number;
  /** A learned single cut is used while flow × 2 × spread stays within this (kg); default 0.8 division. */
  singleShotKg?: number;
  /** A measured D this far (ms, or 4 × spread if larger) from the learned one is a changed valve: back to conservative. */
  changeMs: number;
  /** Weight of a new measurement in the learned timing (exponential average). */
  learnGain: number;
}

export interface TopUpConfig {
  /** Shortest valve open for a top-up (ms): shorter strokes are not repeatable. */
  minPulseMs: number;
  maxPulses: number;
  /** Top up while the settled content is below target − this (kg); default half a division. */
  toleranceKg?: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** The largest close dead time that is plausible: the valve's lag, a poll period and the bus. */
export function closeMaxMs(cfg: ControllerConfig): number {
  return cfg.cutoff.lagMaxMs + 1000 / cfg.pollHz + cfg.cutoff.busMarginMs;
}

export const singleShotKg = (cfg: ControllerConfig) => cfg.cutoff.singleShotKg ?? cfg.divisionKg * 0.8;
export const topUpToleranceKg = (cfg: ControllerConfig) => cfg.topUp.toleranceKg ?? cfg.divisionKg / 2;

/**
 * The plan and the preact (kg before the target to close at) for a flow (kg/ms). `modelKnown`:
 * this post has filled this cylinder model before.
 */
export function planCut(cfg: ControllerConfig, timing: ValveTiming | undefined, modelKnown: boolean, flowKgPerMs: number): { plan: CutPlan; preactKg: number } {
  const f = Math.max(0, flowKgPerMs);
  if (!timing || timing.fills < 1 || !modelKnown) {
    // Largest in-flight, plus room for one pulse of the slowest valve that opens at once.
    const dMax = closeMaxMs(cfg);
    return { plan: 'conservative', preactKg: f * (dMax + cfg.topUp.minPulseMs + cfg.cutoff.lagMaxMs) };
  }
  const spread = 2 * timing.spreadMs;
  if (f * spread <= singleShotKg(cfg) || cfg.topUp.maxPulses === 0) return { plan: 'single', preactKg: f * timing.closeMs };
  // Land short by the spread, with room for the shortest pulse this valve can give.
  const pulseOffset = Math.max(0, timing.closeMs - (timing.openMs ?? 0));
  return { plan: 'twoStage', preactKg: f * (timing.closeMs + 3 * spread + cfg.topUp.minPulseMs + pulseOffset) };
}

/** What the weight curve says about one close: D = gas after the decision / flow. Undefined when implausible. */
export function measuredCloseMs(cfg: ControllerConfig, gAtDecisionKg: number, settledKg: number, flowKgPerMs: number): number | undefined {
  if (!(flowKgPerMs > 0)) return undefined;
  const d = (settledKg - gAtDecisionKg) / flowKgPerMs;
  // Negative (noise at a very short lag) counts as 0; beyond three times the largest plausible is a disturbance, not the valve.
  if (!Number.isFinite(d) || d > 3 * closeMaxMs(cfg)) return undefined;
  return Math.max(0, d);
}

/**
 * Fold one measurement of D (and, where known, the open dead time and the feedback lag) into the
 * learned timing. A measurement far from what was learned means the valve changed (replaced,
 * worn, a different relay): start over (fills 0), so the next fill cuts conservatively.
 */
export function learnTiming(cfg: ControllerConfig, prev: ValveTiming | undefined, m: { closeMs?: number; openMs?: number; feedbackMs?: number; openLagMs?: number; openLagVar?: number }): { timing: ValveTiming; changed: boolean } {
  const k = cfg.cutoff.learnGain;
  const mix = (old: number | undefined, x: number | undefined) => (x === undefined ? old : old === undefined ? x : old + k * (x - old));
  if (m.closeMs === undefined) {
    const base: ValveTiming = prev ?? { closeMs: closeMaxMs(cfg), spreadMs: cfg.cutoff.lagMaxMs * 0.1, fills: 0 };
    const t: ValveTiming = { ...base };
    const o = mix(base.openMs, m.openMs);
    if (o !== undefined) t.openMs = o;
    const fb = mix(base.feedbackMs, m.feedbackMs);
    if (fb !== undefined) t.feedbackMs = fb;
    if (m.openLagMs !== undefined) Object.assign(t, foldOpenLag(base, m.openLagMs, m.openLagVar ?? 400));
    return { timing: t, changed: false };
  }
  const d = m.closeMs;
  const fresh = (): ValveTiming => {
    const t: ValveTiming = { closeMs: d, spreadMs: Math.max(1, 0.1 * d), fills: 0 };
    if (m.openMs !== undefined) t.openMs = m.openMs;
    if (m.feedbackMs !== undefined) t.feedbackMs = m.feedbackMs;
    return t;
  };
  if (!prev) return { timing: { ...fresh(), fills: 1 }, changed: false };
  const limit = Math.max(cfg.cutoff.changeMs, 4 * prev.spreadMs);
  const fbChanged = m.feedbackMs !== undefined && prev.feedbackMs !== undefined && Math.abs(m.feedbackMs - prev.feedbackMs) > limit;
  if (prev.fills > 0 && (Math.abs(d - prev.closeMs) > limit || fbChanged)) return { timing: fresh(), changed: true };
  if (prev.fills === 0) {
    // The first fill after a start-over: keep the measurement as it is.
    return { timing: { ...fresh(), fills: 1 }, changed: false };
  }
  const t: ValveTiming = {
    closeMs: prev.closeMs + k * (d - prev.closeMs),
    spreadMs: clamp(prev.spreadMs + k * (Math.abs(d - prev.closeMs) - prev.spreadMs), 0.5, closeMaxMs(cfg)),
    fills: prev.fills + 1,
  };
  const o = mix(prev.openMs, m.openMs);
  if (o !== undefined) t.openMs = o;
  const fb = mix(prev.feedbackMs, m.feedbackMs);
  if (fb !== undefined) t.feedbackMs = fb;
  if (prev.openLagMs !== undefined) Object.assign(t, { openLagMs: prev.openLagMs, ...(prev.openLagVar !== undefined ? { openLagVar: prev.openLagVar } : {}) });
  return { timing: t, changed: false };
}

/**
 * The valve's opening time is the same from pulse to pulse, but each pulse measures it through two
 * settled weights: noisy at a low flow. Each measurement counts by its variance (a small Kalman
 * step), with a little added each time so that a valve that wears is followed.
 */
function foldOpenLag(prev: ValveTiming, x: number, v: number): { openLagMs: number; openLagVar: number } {
  if (prev.openLagMs === undefined || prev.openLagVar === undefined) return { openLagMs: x, openLagVar: v };
  const k = prev.openLagVar / (prev.openLagVar + v);
  return { openLagMs: prev.openLagMs + k * (x - prev.openLagMs), openLagVar: (1 - k) * prev.openLagVar + 4 };
}

export interface PulseInput {
  /** Gas still wanted to reach the target (kg). */
  gapKg: number;
  /** Gas that may still be added before the allowed fill mass (kg). */
  roomKg: number;
  flowKgPerMs: number;
  /** This fill's close dead time (ms), measured at the main cut. */
  closeMs: number;
  /** Open dead time (ms): from this fill's pulses, else its main open, else learned; 0 when unknown (the safe side). */
  openMs: number;
}

/**
 * Length of the next top-up pulse (ms), or undefined when no pulse can bring the content closer to
 * the target without risk: a pulse gives flow × (P + closeMs − openMs). The largest plausible
 * amount (flow + 5 %, the open dead time 0, 20 ms more lag) must stay a division under the allowed mass.
 */
export function planPulse(cfg: ControllerConfig, p: PulseInput): number | undefined {
  const f = p.flowKgPerMs;
  if (!(f > 0) || !(p.gapKg > 0)) return undefined;
  const offset = p.closeMs - p.openMs;
  const worst = (pulse: number) => f * 1.05 * (pulse + p.closeMs + 20);
  let pulse = p.gapKg / f - offset;
  if (pulse < cfg.topUp.minPulseMs) {
    // The shortest pulse overshoots: only worth it when it lands nearer the target than staying under.
    const over = f * (cfg.topUp.minPulseMs + offset) - p.gapKg;
    if (!(over < p.gapKg)) return undefined;
    pulse = cfg.topUp.minPulseMs;
  }
  const room = p.roomKg - cfg.divisionKg;
  if (worst(pulse) > room) pulse = Math.max(cfg.topUp.minPulseMs, room / (f * 1.05) - p.closeMs - 20 - 1);
  if (worst(pulse) > room) return undefined;
  return Math.round(pulse);
}
