/**
 * The post controller's settings. Field names match `fillSchema` in
 * gateway/config/schema.ts, so a post's `fill` section spreads straight in.
 * Unsure figures are configuration with the value from ../shared/domain.md as
 * the default (domain.md: "make it configuration, never a constant").
 */
import type { Medium } from '../records/types.ts';
import type { CutoffConfig, TopUpConfig } from './cutoff-plan.ts';

export interface ControllerConfig {
  station: string;
  /** Filling unit code (the registry's owner unit). */
  unit: string;
  post: string;
  /** The one medium this post fills (domain.md 1: never LPG and DME at one address). */
  medium: Medium;
  /** Device id of the post's scale, recorded when it serves as the re-weigh scale. */
  scaleDevice: string;
  /** Zone offset of record times (ISO 8601 with offset, GB/T 7408); China is UTC+8. */
  utcOffsetMinutes: number;
  /** Scale poll rate: the stale-sample limit is counted in poll periods. */
  pollHz: number;
  /** Scale division e (domain.md 4: 20 g or 50 g). */
  divisionKg: number;
  /** No fresh sample for this many poll periods while the valve is open → trip (issue 3). */
  staleAfterPolls: number;
  /** While filling, weight must rise by noFlowMinKg within noFlowMs (weighing controllers' no-flow timer, domain.md 4). */
  noFlowMs: number;
  noFlowMinKg: number;
  /** A drop by more than this below the highest weight while filling trips (cylinder removed, hose break). */
  dropTripKg: number;
  maxFillMs: number;
  /** Check-weigh tolerance around the target; ±100 g carousel accuracy (domain.md 4). */
  toleranceKg: number;
  /** Default target content = allowed fill mass − this, so "over tolerance" starts at the allowed mass. */
  targetBelowMaxKg: number;
  preact: { initialKg: number; minKg: number; maxKg: number };
  /** Fraction of the overshoot added to the preact after each fill: ½ as in Rice Lake 920i LEARN (domain.md 4). */
  preactLearnGain: number;
  /** Scale the learned preact by the flow measured at cut-off (in-flight mass = flow × closing time). */
  preactScalesWithFlow: boolean;
  /** How the cut-off is planned from the valve's learned timing (cutoff-plan.ts, issue 14 point 2). */
  cutoff: CutoffConfig;
  topUp: TopUpConfig;
  /** Start by itself once the verified cylinder's weight is stable, instead of waiting for the start button. */
  autoStart: boolean;
  /** Gross below this = nothing on the scale (smallest tare, YSP4.7, is 3.4 kg: domain.md 2). */
  emptyBelowKg: number;
  /** Stable gross must lie within tare − tareMatchKg … tare + residual + tareMatchKg (pocket-code check, domain.md 1). */
  tareMatchKg: number;
  /** Consecutive stable samples that count as "weight stable"... */
  stableCount: number;
  /** ...each within this of the one before (the indicator's own motion band plus noise; catches a swap between two stable readings). */
  stableBandKg: number;
  /** Time after the cut-off for the gas in flight and the valve's closing (domain.md 4: 50-200 ms) before settling. */
  inFlightMs: number;
  /** Stable samples averaged for the settled weight. */
  settleSamples: number;
  /** After this long without enough stable samples, settle on what was read. */
  settleTimeoutMs: number;
  /** No answer to `verify` within this → refused. */
  verifyTimeoutMs: number;
  /** Samples of the last slopeWindowMs feed the least-squares flow estimate (3 s: 30 points at 10 Hz halve the noise of the fitted weight vs 2 s; fill-accuracy bench). */
  slopeWindowMs: number;
  /** The station has a separate check-weigh scale (专用的复称衡器, domain.md 1). */
  checkScale: boolean;
  /**
   * A cylinder may leave only after its post-fill check (checker's badge and re-weigh, 充装前后检查记录,
   * domain.md 1); one that leaves without it is recorded as `filled_unchecked` and raises an alarm.
   * false only records the missing check (postFillCheckMissing) on the normal outcome; still an alarm.
   */
  postFillCheckRequired: boolean;
  /**
   * From the scan until the valve closes the cylinder on the scale must stay the scanned one: a stable
   * weight this far from the weight at the scan, or a jump between two samples larger than flow can
   * explain by this much, ends the attempt (CYLINDER_SWAPPED). 10 divisions of 20 g (domain.md 4).
   */
  stepChangeKg: number;
  /**
   * Highest flow the post's pump and gun deliver (kg/min; fill.maxFlowKgPerMin, also used by config check to
   * size the relay watchdog). A rise faster than twice this (FLOW_STEP_FACTOR) is a step, not flow.
   */
  maxFlowKgPerMin: number;
  /** A rise of the stable weight by more than this with no open attempt, or with the valve closed, is UNAUTHORISED_FILL. */
  unauthorisedRiseKg: number;
  /** An unauthorised fill locks the post (fault) until a supervisor's reset. */
  lockOnUnauthorisedFill: boolean;
  /** Standard pre-fill checklist, confirmed by the filler's badge (domain.md 6). */
  preFillItems: readonly string[];
  /** Standard post-fill checklist, confirmed by the checker's badge. */
  postFillItems: readonly string[];
}

export const defaultPreFillItems = [
  'body',
  'shroud',
  'base',
  'valve',
  'marks legible',
  'within inspection validity',
  'medium matches',
  'warning label',
  'own property',
  'thread type',
  'residual pressure present',
  'accessories complete',
] as const;

export const defaultPostFillItems = ['re-weighed', 'no leak at valve', 'valve closed', 'cap fitted', 'seal applied'] as const;

export const controllerDefaults: Omit<ControllerConfig, 'station' | 'unit' | 'post' | 'medium' | 'scaleDevice'> = {
  utcOffsetMinutes: 480,
  pollHz: 10,
  divisionKg: 0.02,
  staleAfterPolls: 3,
  noFlowMs: 4000,
  noFlowMinKg: 0.05,
  dropTripKg: 0.5,
  maxFillMs: 360_000,
  toleranceKg: 0.1,
  targetBelowMaxKg: 0.1,
  preact: { initialKg: 0.1, minKg: 0, maxKg: 1.5 },
  preactLearnGain: 0.5,
  preactScalesWithFlow: true,
  cutoff: { lagMaxMs: 220, busMarginMs: 50, changeMs: 40, learnGain: 0.3 },
  topUp: { minPulseMs: 50, maxPulses: 4 },
  autoStart: false,
  emptyBelowKg: 1,
  tareMatchKg: 0.5,
  stableCount: 3,
  stableBandKg: 0.1,
  inFlightMs: 400,
  settleSamples: 5,
  settleTimeoutMs: 10_000,
  verifyTimeoutMs: 5000,
  slopeWindowMs: 3000,
  checkScale: false,
  postFillCheckRequired: true,
  stepChangeKg: 0.2,
  maxFlowKgPerMin: 30,
  unauthorisedRiseKg: 0.5,
  lockOnUnauthorisedFill: true,
  preFillItems: defaultPreFillItems,
  postFillItems: defaultPostFillItems,
};

export type ControllerIdentity = Pick<ControllerConfig, 'station' | 'unit' | 'post' | 'medium'> & { scaleDevice?: string };

/** Defaults filled in; `fill` may be a post's (partial) `fill` section from the station config. */
/** A rise faster than this many times the post's highest flow is a step (lift, swap, lean), not flow: room for noise and surges. */
export const FLOW_STEP_FACTOR = 2;

export function controllerConfig(id: ControllerIdentity, fill: Partial<Omit<ControllerConfig, keyof ControllerIdentity>> = {}): ControllerConfig {
  return {
    ...controllerDefaults,
    ...stripUndefined(fill),
    preact: { ...controllerDefaults.preact, ...fill.preact },
    cutoff: { ...controllerDefaults.cutoff, ...stripUndefined(fill.cutoff ?? {}) },
    topUp: { ...controllerDefaults.topUp, ...stripUndefined(fill.topUp ?? {}) },
    station: id.station,
    unit: id.unit,
    post: id.post,
    medium: id.medium,
    scaleDevice: id.scaleDevice ?? `${id.post}.scale`,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
