/**
 * The post controller: `transition(state, input, now)` → next state, commands
 * for the runtime, and when to tick it next. No I/O; `now` is monotonic ms
 * (engineering.md example 4, after zwave-js SerialAPICommandMachine).
 *
 * Fail safe (domain.md 4: de-energised = closed): the valve may be open only
 * in `filling` and `toppingUp`; every transition out of them carries a
 * closeValve, closeValve always comes first in the command list, and an
 * exception inside a handler closes the valve and faults the post instead of
 * escaping.
 */
import { onCutOff, onChecked, onReweighed, onSettling } from './after-fill.ts';
import { onIdentified, onIdle, onReady, onVerified } from './before-fill.ts';
import { FLOW_STEP_FACTOR, type ControllerConfig } from './config.ts';
import { onOpen, openDeadline, trip } from './filling.ts';
import { attemptRecord, wallIso } from './record.ts';
import { VALVE_OPEN_PHASES, attemptIdOf, go, newAttemptId, refuseRead, stay } from './steps.ts';
import type { FillAttempt } from '../records/types.ts';
import type { TripCode } from '../reasons.ts';
import type { Command, LockKind, Phase, PostContext, PostInput, PostState, PreactTable, Step, ValveTiming } from './types.ts';

export interface InitialOptions {
  preacts?: PreactTable;
  /** The post valve's learned timing, persisted per post and valve (none: a first fill or another valve). */
  timing?: ValveTiming;
  /** Wall clock (epoch ms) read at monotonic time `now`. */
  wall?: number;
  now?: number;
  locks?: readonly LockKind[];
  /**
   * Start in fault: the post was in fault when the previous run ended (kept in station.db).
   * A fault awaits a supervisor's reset; a restart must not clear it (issue 9 point 4).
   */
  fault?: { reason: TripCode; attemptId?: string };
}

export function initialState(cfg: ControllerConfig, o: InitialOptions = {}): PostState {
  const now = o.now ?? 0;
  const ctx: PostContext = {
    cfg,
    preacts: o.preacts ?? {},
    ...(o.timing ? { timing: o.timing } : {}),
    locks: o.locks ?? [],
    stableRun: 0,
    awaitRemoval: false,
    wallRef: { mono: now, epoch: o.wall ?? Date.UTC(2026, 0, 1) },
    seq: 0,
    badInputs: 0,
  };
  const f = o.fault;
  return { ctx, phase: f ? { kind: 'fault', reason: f.reason, ...(f.attemptId ? { attemptId: f.attemptId } : {}) } : { kind: 'idle' } };
}

export function transition(state: PostState, input: PostInput, now: number): Step {
  let ctx: PostContext;
  try {
    ctx = observe(state.ctx, input, now, state.phase);
  } catch {
    ctx = { ...state.ctx, badInputs: state.ctx.badInputs + 1 };
  }
  if (ctx.badInputs > state.ctx.badInputs) return finish(state, stay(ctx, state.phase));
  let step: Step;
  try {
    step = dispatch(ctx, state.phase, input, now);
  } catch (err) {
    step = onError(ctx, state.phase, now, err);
  }
  return finish(state, step);
}

/** Bookkeeping every phase shares: wall clock, locks, the last post-scale sample. Malformed inputs are counted. */
function observe(ctx: PostContext, input: PostInput, now: number, phase: Phase): PostContext {
  let next = ctx;
  if (input.wall !== undefined && Number.isFinite(input.wall)) next = { ...next, wallRef: { mono: now, epoch: input.wall } };
  if (input.kind === 'leakAlarm') next = withLock(next, 'leak', input.active);
  if (input.kind === 'stationLock') next = withLock(next, input.lock, input.active);
  if (input.kind === 'sample' || input.kind === 'checkweigh') {
    const s = input.sample;
    if (!Number.isFinite(s.grossKg) || !Number.isFinite(s.at)) return { ...ctx, badInputs: ctx.badInputs + 1 };
  }
  if (input.kind === 'sample') {
    const s = input.sample;
    const prev = next.last;
    const steady = s.stable && !s.overload && prev !== undefined && Math.abs(s.grossKg - prev.grossKg) <= next.cfg.stableBandKg;
    const stableRun = steady ? next.stableRun + 1 : s.stable && !s.overload ? 1 : 0;
    const gone = !s.overload && s.grossKg < next.cfg.emptyBelowKg;
    next = {
      ...next,
      last: { grossKg: s.grossKg, stable: s.stable, overload: s.overload, at: s.at },
      stableRun,
      awaitRemoval: next.awaitRemoval && !gone,
    };
    next = { ...next, quiet: quietAfter(next, s, phase) };
  }
  return next;
}

/** Phases in which gas may still be arriving from the controller's own valve: no resting weight then. */
const FLOWING: ReadonlySet<string> = new Set(['filling', 'toppingUp', 'cutOff', 'settling']);

/**
 * The resting weight (issue 10 point 5): the lowest stable gross since the cylinder was put down.
 * A jump between two samples faster than any flow is a cylinder put on or swapped, not gas: the
 * resting weight starts again from the next stable run. Gas can raise it only slowly, so a rise
 * above it is a fill; the weight of a cylinder being filled by our own valve is not tracked.
 */
function quietAfter(ctx: PostContext, s: { grossKg: number; stable: boolean; overload: boolean; at: number }, phase: Phase): PostContext['quiet'] {
  const cfg = ctx.cfg;
  if (s.overload) return { ...ctx.quiet, prev: undefined };
  const g = s.grossKg;
  if (g < cfg.emptyBelowKg) return {};
  const prev = ctx.quiet?.prev;
  const dt = prev ? Math.max(0, s.at - prev.at) : 0;
  const step = prev !== undefined && g - prev.g > ((FLOW_STEP_FACTOR * cfg.maxFlowKgPerMin) / 60_000) * dt + cfg.stepChangeKg;
  let baseKg = ctx.quiet?.baseKg;
  if (FLOWING.has(phase.kind) || step) baseKg = undefined;
  else if (s.stable && ctx.stableRun >= cfg.stableCount) baseKg = baseKg === undefined ? g : Math.min(baseKg, g);
  return { ...(baseKg !== undefined ? { baseKg } : {}), prev: { g, at: s.at } };
}

function withLock(ctx: PostContext, lock: LockKind, active: boolean): PostContext {
  const others = ctx.locks.filter((l) => l !== lock);
  return { ...ctx, locks: active ? [...others, lock] : others };
}

function dispatch(ctx: PostContext, phase: Phase, input: PostInput, now: number): Step {
  if (input.kind === 'valveTiming') return onValveTiming(ctx, phase, input);
  const unauthorised = unauthorisedFill(ctx, phase, input, now);
  if (unauthorised) return unauthorised;
  switch (phase.kind) {
    case 'idle':
    case 'closedOut':
    case 'aborted':
      return closedSafety(ctx, phase, input, now) ?? onIdle(ctx, phase, input, now);
    case 'identified':
      return closedSafety(ctx, phase, input, now) ?? onIdentified(ctx, phase, input, now);
    case 'verified':
      return closedSafety(ctx, phase, input, now) ?? onVerified(ctx, phase, input, now);
    case 'cylinderReady':
      return closedSafety(ctx, phase, input, now) ?? onReady(ctx, phase, input, now);
    case 'filling':
    case 'toppingUp':
      return onOpen(ctx, phase, input, now);
    case 'cutOff':
      // A late open confirmation is expected here (onCutOff repeats the close); a mismatch or fault is not.
      return (input.kind === 'valveOpened' ? undefined : closedSafety(ctx, phase, input, now)) ?? onCutOff(ctx, phase, input, now);
    case 'settling':
      return closedSafety(ctx, phase, input, now) ?? onSettling(ctx, phase, input, now);
    case 'checked':
      return closedSafety(ctx, phase, input, now) ?? onChecked(ctx, phase, input, now);
    case 'reweighed':
      return closedSafety(ctx, phase, input, now) ?? onReweighed(ctx, phase, input, now);
    case 'fault':
      return onFault(ctx, phase, input, now);
  }
}

/**
 * The wire's view of an open or a close (decision → frame sent → feedback), kept on the run: the
 * main close's for the timing learned when it settles; an open's for the open dead time. While a
 * top-up pulse runs, its end is moved so that gas flows for the planned time from the moment the
 * feedback showed the valve open (the open waited its turn on the shared bus; the close does not).
 */
function onValveTiming(ctx: PostContext, phase: Phase, input: Extract<PostInput, { kind: 'valveTiming' }>): Step {
  const ok = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x) && x >= 0 && x < 5000;
  if (!ok(input.sentAfterMs)) return stay(ctx, phase);
  const sent = input.sentAfterMs;
  if (input.event === 'open' && phase.kind === 'toppingUp' && phase.run.pulse && phase.run.pulse.closeAt === undefined) {
    // Gas flows from ON on the wire + the valve's opening: learned from earlier pulses' weight, else the feedback.
    const p = phase.run.pulse;
    // The feedback is read every 25 ms: for a valve whose opening never changes its error never averages out,
    // so it stands in only until pulses have measured the opening (to within ~10 ms).
    const fb = ok(input.feedbackAfterMs) ? input.feedbackAfterMs : undefined;
    const learned = ctx.timing?.openLagMs !== undefined && (ctx.timing.openLagVar ?? Infinity) < 100 ? ctx.timing.openLagMs : undefined;
    const lag = learned ?? fb ?? (p.sentAfterMs === undefined ? ctx.timing?.openLagMs : undefined);
    if (lag === undefined && p.sentAfterMs === undefined) return stay(ctx, { ...phase, run: { ...phase.run, pulse: { ...p, sentAfterMs: sent } } });
    const closeMs = phase.run.closeMsThis ?? ctx.timing?.closeMs;
    const run = { ...phase.run, pulse: { ...p, sentAfterMs: sent } };
    if (lag === undefined || closeMs === undefined) return stay(ctx, { ...phase, run });
    const pulseEndsAt = Math.max(p.openAt + ctx.cfg.topUp.minPulseMs, p.openAt + sent + lag + p.flowMs - closeMs);
    return stay(ctx, { ...phase, pulseEndsAt, run: { ...run, openMsThis: sent + lag, openFromWire: true } });
  }
  const fb = input.feedbackAfterMs;
  if (!ok(fb)) return stay(ctx, phase);
  const total = sent + fb;
  if (input.event === 'close' && (phase.kind === 'cutOff' || phase.kind === 'settling') && phase.run.topUps === 0 && phase.run.feedbackMs === undefined) {
    return stay(ctx, { ...phase, run: { ...phase.run, feedbackMs: fb, closeFbMs: total } });
  }
  if (input.event === 'open' && phase.kind === 'filling') {
    return stay(ctx, { ...phase, run: { ...phase.run, openMsThis: total, openFromWire: true } });
  }
  return stay(ctx, phase);
}

/**
 * The valve reports open, a mismatch or a fault while it should be closed:
 * command it closed again and fault the post (the open attempt, if any, ends
 * with a record). cutOff handles a late open confirmation itself.
 */
function closedSafety(ctx: PostContext, phase: Phase, input: PostInput, now: number): Step | undefined {
  if (input.kind !== 'valveOpened' && input.kind !== 'valveMismatch' && input.kind !== 'valveFault') return undefined;
  const code = input.kind === 'valveFault' ? 'VALVE_FAULT' : 'VALVE_FEEDBACK';
  const detail = input.kind === 'valveOpened' ? 'valve reported open while commanded closed' : input.detail;
  const commands: Command[] = [{ kind: 'closeValve', reason: code }];
  const ended = endOpenAttempt(ctx, phase, now, { code, at: wallIso(ctx, now), ...(detail ? { detail } : {}) });
  commands.push(...ended);
  return go(ctx, phase, { kind: 'fault', reason: code, attemptId: ended.length > 0 ? attemptIdOf(phase) : undefined }, commands);
}

/**
 * 不具备追溯功能的充装设备，一律不得使用 (seed 000): the weight rose above the resting weight by more
 * than unauthorisedRiseKg while no attempt was filling (idle, before the open, after the settle, in
 * fault). Close the valve again (it may be ours, stuck), record it with its own outcome, raise the
 * alarm, and lock the post until a supervisor's reset (configurable).
 */
function unauthorisedFill(ctx: PostContext, phase: Phase, input: PostInput, now: number): Step | undefined {
  if (input.kind !== 'sample' || input.sample.overload || FLOWING.has(phase.kind)) return undefined;
  const base = ctx.quiet?.baseKg;
  const g = input.sample.grossKg;
  if (base === undefined || g - base <= ctx.cfg.unauthorisedRiseKg) return undefined;
  const at = wallIso(ctx, now);
  const detail = `gross rose from ${base} to ${g} kg with ${phase.kind === 'fault' || phase.kind === 'idle' || phase.kind === 'closedOut' || phase.kind === 'aborted' ? 'no open attempt' : 'the valve closed'}`;
  const trips = [{ code: 'UNAUTHORISED_FILL' as const, at, grossKg: g, detail }];
  let record: FillAttempt;
  let clear: Command[] = [];
  switch (phase.kind) {
    case 'identified':
    case 'verified':
    case 'cylinderReady':
      record = attemptRecord(ctx, phase.attempt, 'unauthorised_fill', now, { trips });
      break;
    case 'checked':
    case 'reweighed': {
      const over = g - phase.run.cylinder.tareKg > phase.run.cylinder.allowedFillKg;
      record = attemptRecord(ctx, phase.run, 'unauthorised_fill', now, { trips, ...(over ? { mustDecant: true, toleranceState: 'over' as const } : {}) });
      clear = [{ kind: 'clearInProgress', attemptId: phase.run.id }];
      break;
    }
    default: {
      const n = newAttemptId(ctx, now);
      ctx = n.ctx;
      record = { attemptId: n.id, station: ctx.cfg.station, unit: ctx.cfg.unit, post: ctx.cfg.post, outcome: 'unauthorised_fill', trips, refusals: [], startedAt: at, endedAt: at };
    }
  }
  // Alarm once per rise: the new weight is the resting weight from here on.
  ctx = { ...ctx, quiet: { baseKg: g, prev: { g, at: input.sample.at } } };
  const commands: Command[] = [
    { kind: 'closeValve', reason: 'UNAUTHORISED_FILL' },
    { kind: 'record', attempt: record },
    ...clear,
    { kind: 'alarm', code: 'UNAUTHORISED_FILL', attemptId: record.attemptId, ...(record.cylinderCode ? { cylinderCode: record.cylinderCode } : {}), detail },
    { kind: 'display', reason: 'UNAUTHORISED_FILL', detail },
  ];
  const to: Phase = ctx.cfg.lockOnUnauthorisedFill
    ? { kind: 'fault', reason: 'UNAUTHORISED_FILL', attemptId: record.attemptId }
    : phase.kind === 'fault' ? phase : { kind: 'idle' };
  return go(ctx, phase, to, commands);
}

/** The one record of an attempt that is still open in this phase (none in idle-like phases). */
function endOpenAttempt(ctx: PostContext, phase: Phase, now: number, t: { code: TripCode; at: string; detail?: string }): Command[] {
  switch (phase.kind) {
    case 'identified':
    case 'verified':
    case 'cylinderReady':
      return [{ kind: 'record', attempt: attemptRecord(ctx, phase.attempt, 'tripped', now, { trips: [t] }) }];
    case 'cutOff':
    case 'settling':
    case 'checked':
    case 'reweighed': {
      const attempt = attemptRecord(ctx, phase.run, 'tripped', now, { trips: [t] });
      return [{ kind: 'record', attempt }, { kind: 'clearInProgress', attemptId: phase.run.id }];
    }
    default:
      return [];
  }
}

function onFault(ctx: PostContext, phase: Extract<Phase, { kind: 'fault' }>, input: PostInput, now: number): Step {
  switch (input.kind) {
    case 'valveOpened':
    case 'valveMismatch':
    case 'valveFault':
      return stay(ctx, phase, [{ kind: 'closeValve', reason: input.kind === 'valveFault' ? 'VALVE_FAULT' : 'VALVE_FEEDBACK' }]);
    case 'reset':
      // Reopening after a leak is manual and only once the alarm has cleared (CJ/T 394, domain.md 5).
      if (ctx.locks.includes('leak')) return stay(ctx, phase, [{ kind: 'display', reason: 'STATION_LOCKED_LEAK' }]);
      return go(ctx, phase, { kind: 'idle' });
    case 'code': {
      if (input.read.kind !== 'cylinder') return stay(ctx, phase);
      const r = refuseRead(ctx, input.read, input.attemptId, [{ code: 'POST_IN_FAULT' }], now);
      return stay(r.ctx, phase, r.commands);
    }
    default:
      return stay(ctx, phase);
  }
}

/** A bug must not leave the valve open: close, and fault the post. */
function onError(ctx: PostContext, phase: Phase, now: number, err: unknown): Step {
  const detail = err instanceof Error ? err.message : String(err);
  if (phase.kind === 'filling' || phase.kind === 'toppingUp') {
    try {
      return trip(ctx, phase, 'CONTROLLER_ERROR', now, detail);
    } catch {
      // fall through to the bare close below
    }
  }
  const id = attemptIdOf(phase);
  return go(ctx, phase, { kind: 'fault', reason: 'CONTROLLER_ERROR', ...(id ? { attemptId: id } : {}) }, [
    { kind: 'closeValve', reason: 'CONTROLLER_ERROR' },
    { kind: 'display', reason: 'CONTROLLER_ERROR', detail },
  ]);
}

/**
 * Last guard: leaving an open-valve phase without a closeValve would be a bug,
 * so add one; put every closeValve first; compute when to tick next.
 */
function finish(prev: PostState, step: Step): Step {
  let commands = step.commands;
  const wasOpen = VALVE_OPEN_PHASES.has(prev.phase.kind);
  const isOpen = VALVE_OPEN_PHASES.has(step.state.phase.kind);
  if (wasOpen && !isOpen && !commands.some((c) => c.kind === 'closeValve')) {
    commands = [{ kind: 'closeValve', reason: 'CONTROLLER_ERROR' }, ...commands];
  }
  const closes = commands.filter((c) => c.kind === 'closeValve');
  if (closes.length > 0) commands = [...closes, ...commands.filter((c) => c.kind !== 'closeValve')];
  const wakeAt = deadline(step.state);
  return wakeAt === undefined ? { state: step.state, commands } : { state: step.state, commands, wakeAt };
}

/** When the runtime must tick the controller next (undefined: only inputs move it). */
export function deadline(state: PostState): number | undefined {
  const { ctx, phase } = state;
  switch (phase.kind) {
    case 'identified':
      return phase.deadline;
    case 'filling':
    case 'toppingUp':
      return openDeadline(ctx, phase);
    case 'cutOff':
      return phase.closedAt + ctx.cfg.inFlightMs;
    case 'settling':
      return phase.since + ctx.cfg.settleTimeoutMs;
    default:
      return undefined;
  }
}

/** Whether the valve may be open in this state (for the runtime's own watchdog and for tests). */
export const valveMayBeOpen = (state: PostState): boolean => VALVE_OPEN_PHASES.has(state.phase.kind);
