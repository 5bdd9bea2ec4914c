/**
 * What a post tile and the station banner show, computed from the controller's
 * state (pure functions: tested as tables). One colour per state, as the touch
 * panels use it: green filling/done, amber waiting, red refused/tripped/fault/
 * locked (issue 6 point 1). Reasons always carry both languages from the
 * message catalogue, whatever the screen's language.
 */
import type { PostState } from '../../controller/index.ts';
import type { LeakState } from '../../leak/interlock.ts';
import type { FillAttempt, FillOutcome } from '../../records/types.ts';
import { both, reasonText } from '../../i18n/index.ts';
import { staleLimitMs } from '../../controller/steps.ts';
import type { HealthState } from '../../../devices/types.ts';

export type TileState = 'idle' | 'waiting' | 'filling' | 'done' | 'warn' | 'refused' | 'tripped' | 'fault' | 'locked';

export interface ReasonView {
  code: string;
  zh: string;
  en: string;
  detail?: string;
}

export interface PostTile {
  post: string;
  phase: string;
  state: TileState;
  grossKg?: number;
  stable?: boolean;
  overload?: boolean;
  cylinderCode?: string;
  model?: string;
  /** Target content of the cylinder (kg of gas after the fill). */
  targetKg?: number;
  /** Mass put in during this fill (gross now − gross at start). */
  filledKg?: number;
  /** Gas in the cylinder now (gross − tare). */
  contentKg?: number;
  allowedKg?: number;
  /** The last attempt's outcome, shown until the next cylinder is scanned. */
  outcome?: FillOutcome;
  reasons: ReasonView[];
  /** The post is in fault: a supervisor may reset it. */
  fault: boolean;
  /** Whole seconds since the last weight sample, when at least one (a fresh weight has none). */
  weightAgeS?: number;
  /** The weight shown is not live: older than the stale limit, or the scale is offline (greyed out). */
  weightStale: boolean;
  /** The post scale's health, and its error when not online. */
  scaleHealth?: HealthState;
  scaleError?: string;
  /**
   * Open exceptions against this post (issue 10 points 1 and 5: a cylinder left unchecked, a fill
   * outside the system), shown until a supervisor closes each out.
   */
  exceptions?: { id: number; code: string; zh: string; en: string; cylinderCode?: string; detail?: string; raisedAt: string }[];
}

/** What a tile needs from outside the controller's state. */
export interface TileContext {
  /** Monotonic now (the clock of the samples' `at`), to age the last weight. */
  now?: number;
  scale?: { state: HealthState; lastError?: string };
  /** Below this the post scale is empty (eligibility.emptyScaleBelowKg). */
  emptyBelowKg?: number;
}

/** Per post, what happened last (kept by the live hub from the station's events). */
export interface PostMemory {
  record?: FillAttempt;
  /** A `display` command in the current phase (e.g. a badge refused while verified). */
  notice?: { reason: string; detail?: string };
}

const WAITING = new Set(['identified', 'verified', 'cylinderReady', 'cutOff', 'settling', 'checked', 'reweighed']);
const RESTING = new Set(['idle', 'closedOut', 'aborted']);

interface PhaseFacts {
  kind: string;
  reason?: string;
  outcome?: FillOutcome;
  attempt?: { code: string; cylinder?: { model: string; tareKg: number; allowedFillKg: number; targetKg?: number }; targetKg?: number; startGrossKg?: number };
  run?: { code: string; cylinder: { model: string; tareKg: number; allowedFillKg: number; targetKg?: number }; targetKg: number; startGrossKg: number };
}

const round = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? undefined : Number(n.toFixed(digits)));

export function outcomeState(outcome: FillOutcome): TileState {
  switch (outcome) {
    case 'filled':
      return 'done';
    case 'underfilled':
      return 'warn';
    case 'refused':
      return 'refused';
    case 'aborted':
      return 'warn';
    default:
      return 'tripped'; // overfilled, filled_unchecked, unauthorised_fill, tripped, interrupted
  }
}

export function recordReasons(a: FillAttempt): ReasonView[] {
  return [...a.refusals.map((r) => ({ code: r.code, detail: r.detail })), ...a.trips.map((t) => ({ code: t.code, detail: t.detail }))].map((r) => ({
    code: r.code,
    ...reasonText(r.code),
    ...(r.detail ? { detail: r.detail } : {}),
  }));
}

function tileState(ph: PhaseFacts, memory: PostMemory, locked: boolean): TileState {
  if (ph.kind === 'fault') return 'fault';
  if (ph.kind === 'filling' || ph.kind === 'toppingUp') return 'filling';
  if (ph.kind === 'closedOut' && ph.outcome) return outcomeState(ph.outcome);
  if (ph.kind === 'aborted') return ph.reason ? 'tripped' : 'warn';
  if (WAITING.has(ph.kind)) return memory.notice ? 'refused' : 'waiting';
  if (memory.record) return outcomeState(memory.record.outcome);
  return locked ? 'locked' : 'idle';
}

function tileReasons(ph: PhaseFacts, memory: PostMemory): ReasonView[] {
  if ((ph.kind === 'fault' || ph.kind === 'aborted') && ph.reason) return [{ code: ph.reason, ...reasonText(ph.reason) }];
  if (RESTING.has(ph.kind) && memory.record) return recordReasons(memory.record);
  if (memory.notice) return [{ code: memory.notice.reason, ...reasonText(memory.notice.reason), ...(memory.notice.detail ? { detail: memory.notice.detail } : {}) }];
  return [];
}

/** One post tile from the controller's snapshot, what the post did last, and whether the station is locked. */
export function postTile(post: string, snap: PostState, memoryIn: PostMemory = {}, locked = false, at: TileContext = {}): PostTile {
  const ph = snap.phase as unknown as PhaseFacts;
  const last = snap.ctx.last;
  const gross = last?.grossKg;
  // A refused cylinder that has left the scale is no longer this post's news (issue 12 point 9).
  const gone = memoryIn.record?.outcome === 'refused' && RESTING.has(ph.kind) && gross !== undefined && gross < (at.emptyBelowKg ?? 1);
  const memory: PostMemory = gone ? { ...memoryIn, record: undefined } : memoryIn;
  const a = ph.run ?? ph.attempt;
  const cyl = a?.cylinder;
  const rec = RESTING.has(ph.kind) ? memory.record : undefined;
  const tile: PostTile = {
    post,
    phase: ph.kind,
    state: tileState(ph, memory, locked),
    grossKg: round(gross),
    stable: last?.stable,
    overload: last?.overload,
    cylinderCode: a?.code ?? rec?.cylinderCode,
    model: cyl?.model ?? rec?.model,
    targetKg: round(ph.run?.targetKg ?? ph.attempt?.targetKg ?? cyl?.targetKg ?? rec?.targetKg),
    allowedKg: round(cyl?.allowedFillKg ?? rec?.allowedFillKg),
    reasons: tileReasons(ph, memory),
    fault: ph.kind === 'fault',
    weightStale: false,
  };
  if (last && at.now !== undefined) {
    const ageMs = Math.max(0, at.now - last.at);
    // With no attempt the scale may poll at its idle rate (idlePollHz ≥ 2): 1 s is stale then.
    const idleLike = ph.kind === 'idle' || ph.kind === 'closedOut' || ph.kind === 'aborted';
    const limit = snap.ctx.cfg ? (idleLike ? Math.max(1000, staleLimitMs(snap.ctx)) : staleLimitMs(snap.ctx)) : 1000;
    if (ageMs >= 1000) tile.weightAgeS = Math.floor(ageMs / 1000);
    tile.weightStale = ageMs >= limit;
  }
  if (at.scale) {
    tile.scaleHealth = at.scale.state;
    if (at.scale.state !== 'online' && at.scale.lastError) tile.scaleError = at.scale.lastError;
    if (at.scale.state === 'offline') tile.weightStale = true;
  }
  const start = ph.run?.startGrossKg;
  if (ph.run && gross !== undefined && start !== undefined) tile.filledKg = round(Math.max(0, gross - start));
  else if (rec?.netFilledKg !== undefined) tile.filledKg = round(rec.netFilledKg);
  if (cyl && gross !== undefined && gross > cyl.tareKg * 0.5) tile.contentKg = round(gross - cyl.tareKg);
  if (rec) tile.outcome = rec.outcome;
  else if (ph.kind === 'closedOut') tile.outcome = ph.outcome;
  return tile;
}

export interface BannerView {
  /** Any station-wide lock: no post may fill. */
  locked: boolean;
  locks: { lock: string; zh: string; en: string; detail?: string }[];
  /** The leak interlock, when the station has one (MQTT configured). */
  leak?: {
    locked: boolean;
    /** Why it is not clear now; empty while locked = the alarm has cleared and a supervisor may reset. */
    conditions: { zh: string; en: string }[];
    resettable: boolean;
    lastReset?: { badge: string };
  };
}

/** Why the leak interlock is not clear, in both languages (the interlock's own strings are English only). */
export function leakConditions(state: LeakState): { zh: string; en: string }[] {
  const out: { zh: string; en: string }[] = [];
  for (const [device, d] of Object.entries(state.detectors)) {
    if (d.level > 0) out.push(both('leak.level', { device, level: d.level }));
    if (d.fault) out.push(both('leak.fault', { device }));
    if (d.silent) out.push(both('leak.silent', { device }));
    // A lock restored at a restart waits for every detector to report clear (interlock resetBlockers).
    else if (d.lastAt === undefined && d.level === 0 && !d.fault) out.push(both('leak.notReported', { device }));
  }
  for (const [device, c] of Object.entries(state.cutoffs)) if (c.phase === 'closing') out.push(both('leak.cutoffClosing', { device }));
  return out;
}

export function bannerView(locks: readonly { lock: string; detail?: string }[], leak?: LeakState): BannerView {
  const view: BannerView = {
    locked: locks.length > 0,
    locks: locks.map((l) => ({ lock: l.lock, ...both(`banner.lock.${l.lock}`), ...(l.detail ? { detail: l.detail } : {}) })),
  };
  if (leak) {
    const conditions = leakConditions(leak);
    const detectorsClear = !Object.values(leak.detectors).some((d) => d.level > 0 || d.fault || d.silent || d.lastAt === undefined);
    view.leak = {
      locked: leak.latched,
      conditions: leak.latched && detectorsClear ? [both('leak.cleared'), ...conditions] : conditions,
      resettable: leak.latched && detectorsClear,
      ...(leak.lastReset ? { lastReset: { badge: leak.lastReset.badge } } : {}),
    };
  }
  return view;
}
