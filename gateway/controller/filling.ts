/**
 * The phases in which the valve may be open: filling and toppingUp. Every
 * sample is checked against the hard overfill limit first (tare + allowed fill
 * mass: 超装自动切断, domain.md 1), independently of the target logic; the
 * valve closes in the same transition as the trip, and the trip is recorded.
 * Inputs this phase does not expect close the valve (the safe default branch).
 */
import { FLOW_STEP_FACTOR } from './config.ts';
import type { TripCode } from '../reasons.ts';
import type { FillAttempt } from '../records/types.ts';
import { refuseOther } from './before-fill.ts';
import { fitLine, pushWindow, type Line } from './flow.ts';
import { cutoffGross } from './preact.ts';
import { closeMaxMs, planCut, type CutPlan } from './cutoff-plan.ts';
import { attemptRecord, journal, masses, wallIso } from './record.ts';
import { go, staleLimitMs, stay } from './steps.ts';
import type { CloseReason, Command, FillRun, FlowTrack, Phase, PostContext, PostInput, Step } from './types.ts';
import type { WeightSample } from '../../devices/types.ts';

type Open = Extract<Phase, { kind: 'filling' | 'toppingUp' }>;

const withFlow = (phase: Open, flow: FlowTrack): Open => ({ ...phase, flow });

export function onOpen(ctx: PostContext, phase: Open, input: PostInput, now: number): Step {
  switch (input.kind) {
    case 'sample':
      return onSample(ctx, phase, input.sample, now);
    case 'tick':
      return onTick(ctx, phase, now);
    case 'stop':
      return trip(ctx, phase, 'OPERATOR_STOP', now);
    case 'valveOpened':
      return stay(ctx, withFlow(phase, { ...phase.flow, valveConfirmed: true }));
    case 'valveClosed':
      return trip(ctx, phase, 'VALVE_FEEDBACK', now, 'valve reported closed while commanded open');
    case 'valveMismatch':
      return trip(ctx, phase, 'VALVE_FEEDBACK', now, input.detail);
    case 'valveFault':
      return trip(ctx, phase, 'VALVE_FAULT', now, input.detail);
    case 'limitFault':
      // The runtime did not open: the second, independent limit is not in place (issue 9 point 7).
      return trip(ctx, phase, 'SETPOINT_LIMIT', now, input.detail);
    case 'leakAlarm':
      return input.active ? trip(ctx, phase, 'LEAK_ALARM', now) : stay(ctx, phase);
    case 'stationLock':
      return input.active ? trip(ctx, phase, 'STATION_LOCK', now, input.lock) : stay(ctx, phase);
    case 'code':
      // A scan of the next cylinder while filling: refused on its own record, this fill goes on.
      if (input.read.kind === 'cylinder' && input.read.code !== phase.run.code) return refuseOther(ctx, phase, input.read, input.attemptId, now);
      if (input.read.kind === 'badge' || input.read.code === phase.run.code) return stay(ctx, phase);
      return trip(ctx, phase, 'UNEXPECTED_INPUT', now, 'code');
    case 'badgeLapsed':
      // The filler's session lapsing does not stop a fill under way, but no top-up opens after it.
      return stay(ctx, { ...phase, run: { ...phase.run, badgeLapsed: true } });
    case 'checkweigh':
    case 'start':
      return stay(ctx, phase);
    case 'verified':
    case 'refused':
      if (input.attemptId !== phase.run.id) return stay(ctx, phase); // a stale reply to an earlier attempt
      return trip(ctx, phase, 'UNEXPECTED_INPUT', now, input.kind);
    default:
      return trip(ctx, phase, 'UNEXPECTED_INPUT', now, input.kind);
  }
}

function onSample(ctx: PostContext, phase: Open, s: WeightSample, now: number): Step {
  const run = phase.run;
  if (s.overload) return trip(ctx, phase, 'SCALE_OVERLOAD', now);
  const g = s.grossKg;
  if (g >= run.limitGrossKg) return trip(ctx, phase, 'OVERFILL', now, `gross ${g} kg ≥ limit ${run.limitGrossKg} kg`);
  if (g < phase.flow.maxGrossKg - ctx.cfg.dropTripKg) return trip(ctx, phase, 'WEIGHT_DROP', now, `gross ${g} kg, highest ${phase.flow.maxGrossKg} kg`);
  const f = phase.flow;
  // The cylinder is the scanned one until the valve closes (issue 10 point 4): gas only rises, and no
  // faster than the fastest flow; a step up, or a fall below the highest weight, is a swap, a lift or a lean.
  if (g < f.maxGrossKg - ctx.cfg.stepChangeKg) return trip(ctx, phase, 'CYLINDER_SWAPPED', now, `gross ${g} kg, highest ${f.maxGrossKg} kg while filling`);
  const prev = f.window.at(-1);
  if (prev && g - prev.g > ((FLOW_STEP_FACTOR * ctx.cfg.maxFlowKgPerMin) / 60_000) * Math.max(0, s.at - prev.t) + ctx.cfg.stepChangeKg) {
    return trip(ctx, phase, 'CYLINDER_SWAPPED', now, `gross stepped from ${prev.g} to ${g} kg in ${Math.round(s.at - prev.t)} ms: faster than any flow`);
  }
  const window = pushWindow(f.window, { t: s.at, g }, ctx.cfg.slopeWindowMs);
  const flowRef = g >= f.flowRef.g + ctx.cfg.noFlowMinKg ? { at: s.at, g } : f.flowRef;
  const flow: FlowTrack = { ...f, window, flowRef, maxGrossKg: Math.max(f.maxGrossKg, g) };
  const line = fitLine(window);
  const cut = cutLevel(ctx, phase, line);
  if (g >= cut.level) return cutOff(withFlow(phase, flow), ctx, cut.reason, now, line);
  const minSlope = ctx.cfg.noFlowMinKg / ctx.cfg.noFlowMs;
  const predictedAt = line && line.slope > minSlope ? s.at + (cut.level - line.at(s.at)) / line.slope : undefined;
  if (predictedAt !== undefined && predictedAt <= now) return cutOff(withFlow(phase, flow), ctx, cut.reason, now, line);
  const next: FlowTrack = predictedAt === undefined ? { ...flow, predictedAt: undefined } : { ...flow, predictedAt };
  return stay(ctx, withFlow(phase, next));
}

/**
 * The cut-off level now (cutoff-plan.ts): target − the planned preact at the measured flow, never
 * past the allowed mass. Before the flow is measured, the highest flow counts (the safe side). While
 * a pulse runs the pulse's timer ends it; the level is a net: this fill's measured in-flight.
 */
function cutLevel(ctx: PostContext, phase: Open, line: Line | undefined): { level: number; reason: CloseReason; plan: CutPlan; preactKg: number } {
  const run = phase.run;
  const maxFlow = ctx.cfg.maxFlowKgPerMin / 60_000;
  if (phase.kind === 'toppingUp') {
    const f = run.cut?.flowKgPerMs ?? maxFlow;
    const preactKg = f * (run.closeMsThis ?? closeMaxMs(ctx.cfg));
    return { level: cutoffGross(run.targetGrossKg, run.limitGrossKg, preactKg), reason: 'TOP_UP_END', plan: run.plan ?? 'conservative', preactKg };
  }
  const flow = line && line.slope > 0 ? line.slope : maxFlow;
  const p = planCut(ctx.cfg, ctx.timing, run.preact.fills > 0, flow);
  return { level: cutoffGross(run.targetGrossKg, run.limitGrossKg, p.preactKg), reason: 'TARGET', plan: p.plan, preactKg: p.preactKg };
}

function onTick(ctx: PostContext, phase: Open, now: number): Step {
  const run = phase.run;
  const cfg = ctx.cfg;
  const lastAt = ctx.last?.at ?? run.fillStartedAt;
  if (now - lastAt >= staleLimitMs(ctx)) return trip(ctx, phase, 'STALE_WEIGHT', now, `no sample for ${Math.round(now - lastAt)} ms`);
  if (phase.kind === 'filling') {
    if (now - run.fillStartedAt >= cfg.maxFillMs) return trip(ctx, phase, 'MAX_DURATION', now);
    if (now - phase.flow.flowRef.at >= cfg.noFlowMs) return trip(ctx, phase, 'NO_FLOW', now, `less than ${cfg.noFlowMinKg} kg in ${cfg.noFlowMs} ms`);
  } else if (now >= phase.pulseEndsAt) {
    return cutOff(phase, ctx, 'TOP_UP_END', now);
  }
  if (phase.flow.predictedAt !== undefined && now >= phase.flow.predictedAt) {
    return cutOff(phase, ctx, phase.kind === 'filling' ? 'TARGET' : 'TOP_UP_END', now, fitLine(phase.flow.window));
  }
  return stay(ctx, phase);
}

/** When the runtime must tick us at the latest: stale limit, duration, no-flow, pulse end, predicted cut-off. */
export function openDeadline(ctx: PostContext, phase: Open): number {
  const run = phase.run;
  const times = [(ctx.last?.at ?? run.fillStartedAt) + staleLimitMs(ctx)];
  if (phase.kind === 'filling') times.push(run.fillStartedAt + ctx.cfg.maxFillMs, phase.flow.flowRef.at + ctx.cfg.noFlowMs);
  else times.push(phase.pulseEndsAt);
  if (phase.flow.predictedAt !== undefined) times.push(phase.flow.predictedAt);
  return Math.min(...times);
}

/**
 * Normal end of flow: close, and wait for the gas in flight. The main cut keeps what the weight
 * curve says at the decision (fitted gross, flow, and where the flow line meets the start weight:
 * the open dead time), so the settled weight tells this fill's close dead time (cutoff-plan.ts).
 */
function cutOff(phase: Open, ctx: PostContext, reason: CloseReason, now: number, line?: Line): Step {
  const closed = { lastCloseAt: now, lastCloseWall: wallIso(ctx, now) };
  let run: FillRun = { ...phase.run, ...closed };
  if (phase.kind === 'filling') {
    const cut = cutLevel(ctx, phase, line);
    run = { ...run, preactUsedKg: cut.preactKg, plan: cut.plan };
    if (line && line.slope > 0) {
      const gKg = line.at(now);
      run.flowAtCutKgPerS = line.slope * 1000;
      run.cut = { at: now, gKg, flowKgPerMs: line.slope, highKg: phase.flow.maxGrossKg };
      // Where the flow line meets the start weight: the open dead time, unless the feedback told it.
      const openMs = now - (gKg - run.startGrossKg) / line.slope - run.fillStartedAt;
      if (!run.openFromWire && Number.isFinite(openMs) && openMs >= 0 && openMs <= 2000) run.openMsThis = openMs;
    }
  } else if (run.pulse) {
    run = { ...run, pulse: { ...run.pulse, closeAt: now } };
  }
  // Journalled after the close has reached the driver (the runtime writes it after the step's commands).
  const known = attemptRecord(ctx, run, 'interrupted', now, { netFilledKg: masses(run, ctx.last?.grossKg ?? run.startGrossKg).netFilledKg });
  return go(ctx, phase, { kind: 'cutOff', run, closedAt: now }, [{ kind: 'closeValve', reason }, journal(known, 'cutOff')]);
}

/**
 * An interlock closed the valve before the target: close first, then one
 * record (tripped, or overfilled when the hard limit was reached), then the
 * post waits in `fault` for a reset; an operator stop ends in `aborted`.
 */
export function trip(ctx: PostContext, phase: Extract<Phase, { run: FillRun }>, code: TripCode, now: number, detail?: string): Step {
  const at = wallIso(ctx, now);
  const run: FillRun = { ...phase.run, lastCloseAt: now, lastCloseWall: at };
  const g = ctx.last?.grossKg ?? run.startGrossKg;
  const overfilled = code === 'OVERFILL' || g - run.cylinder.tareKg > run.cylinder.allowedFillKg;
  const outcome: FillAttempt['outcome'] = code === 'OPERATOR_STOP' ? 'aborted' : overfilled ? 'overfilled' : 'tripped';
  const m = masses(run, g);
  const extra: Partial<FillAttempt> = {
    netFilledKg: m.netFilledKg,
    trips: [{ code, at, grossKg: g, ...(detail ? { detail } : {}) }],
    ...(overfilled ? { mustDecant: true, toleranceState: 'over' as const } : {}),
  };
  const attempt = attemptRecord(ctx, run, outcome, now, extra);
  const commands: Command[] = [
    { kind: 'closeValve', reason: code },
    { kind: 'record', attempt },
    { kind: 'clearInProgress', attemptId: run.id },
    { kind: 'display', reason: overfilled ? 'OVERFILLED_MUST_DECANT' : code },
  ];
  const to: Phase = code === 'OPERATOR_STOP' ? { kind: 'aborted', attemptId: run.id, reason: code } : { kind: 'fault', reason: code, attemptId: run.id };
  return go(ctx, phase, to, commands);
}
