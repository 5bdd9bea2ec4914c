/**
 * Phases after the cut-off, valve closed: cutOff (gas in flight) → settling
 * (wait for a stable weight) → checked (under/in/over tolerance; an under-filled
 * cylinder is topped up with short pulses first) → reweighed (check-weigh scale,
 * or the post scale after settling, and the checker's badge: checker ≠ filler,
 * 充装时人员不得同时兼任检查人员) → closedOut when the cylinder leaves the scale,
 * with the attempt's one record. Every filled cylinder is re-weighed (逐瓶复验);
 * an over-filled one is flagged mustDecant and never closes out as OK (domain.md 1).
 */
import type { WeightSample } from '../../devices/types.ts';
import type { FillAttempt, FillOutcome } from '../records/types.ts';
import { refuseOther } from './before-fill.ts';
import { learnPreact, toleranceOf } from './preact.ts';
import { closeMaxMs, learnTiming, measuredCloseMs, planPulse, topUpToleranceKg } from './cutoff-plan.ts';
import { attemptRecord, journal, masses, roundKg } from './record.ts';
import { trip } from './filling.ts';
import { badgeProblem, checklist, freshSample, go, mean, samePerson, stay } from './steps.ts';
import type { Command, FillRun, Phase, PostContext, PostInput, Reweigh, SettledResult, Step } from './types.ts';

type P<K extends Phase['kind']> = Extract<Phase, { kind: K }>;
type After = P<'cutOff' | 'settling' | 'checked' | 'reweighed'>;

/** Inputs all after-fill phases treat alike; undefined when the phase must decide. */
function afterCommon(ctx: PostContext, phase: After, input: PostInput, now: number): Step | undefined {
  // The valve was commanded closed, yet the weight reaches the allowed mass: it did not close
  // (stuck open, no position switch to tell). Close again, record the overfill, fault the post.
  if (input.kind === 'sample' && !input.sample.overload && input.sample.grossKg >= phase.run.limitGrossKg) {
    return trip(ctx, phase, 'OVERFILL', now, `gross ${input.sample.grossKg} kg ≥ limit ${phase.run.limitGrossKg} kg after the close command: valve did not close`);
  }
  if (input.kind === 'code' && input.read.kind === 'cylinder' && input.read.code !== phase.run.code) {
    return refuseOther(ctx, phase, input.read, input.attemptId, now);
  }
  // The filler's pre-fill confirmation no longer stands: no further top-up pulse opens the valve.
  if (input.kind === 'badgeLapsed' && (phase.kind === 'cutOff' || phase.kind === 'settling')) return stay(ctx, { ...phase, run: { ...phase.run, badgeLapsed: true } });
  return undefined;
}

export function onCutOff(ctx: PostContext, phase: P<'cutOff'>, input: PostInput, now: number): Step {
  const common = afterCommon(ctx, phase, input, now);
  if (common) return common;
  if (input.kind === 'valveOpened') {
    // A late confirmation of the open we already revoked: repeat the close; a valve that stays open reports a mismatch.
    return stay(ctx, phase, [{ kind: 'closeValve', reason: 'VALVE_FEEDBACK' }]);
  }
  if (input.kind === 'tick' && now >= phase.closedAt + ctx.cfg.inFlightMs) {
    return go(ctx, phase, { kind: 'settling', run: phase.run, since: now, readings: [] });
  }
  return stay(ctx, phase);
}

export function onSettling(ctx: PostContext, phase: P<'settling'>, input: PostInput, now: number): Step {
  const common = afterCommon(ctx, phase, input, now);
  if (common) return common;
  const cfg = ctx.cfg;
  if (input.kind === 'tick' && now >= phase.since + cfg.settleTimeoutMs) {
    return settle(ctx, phase, phase.readings.length > 0 ? mean(phase.readings) : (ctx.last?.grossKg ?? phase.run.startGrossKg), now, false);
  }
  if (input.kind !== 'sample' || input.sample.overload) return stay(ctx, phase);
  const s = input.sample;
  if (s.grossKg < cfg.emptyBelowKg) {
    // Lifted off before it settled (e.g. moved to the check scale): settle on what was read.
    return settle(ctx, phase, phase.readings.length > 0 ? mean(phase.readings) : phase.run.lastGross ?? phase.run.startGrossKg, now, false);
  }
  const run = { ...phase.run, lastGross: s.grossKg };
  if (!s.stable) return stay(ctx, { ...phase, run, readings: [] });
  const readings = [...phase.readings, s.grossKg];
  if (readings.length >= cfg.settleSamples) return settle(ctx, { ...phase, run }, mean(readings), now, true);
  return stay(ctx, { ...phase, run, readings });
}

/**
 * The settled weight decides. After the main cut: this fill's close dead time from the weight
 * curve (gas after the decision / flow), learned with the feedback lag into the valve's timing;
 * after a pulse: the pulse's open dead time. Then a top-up pulse while the content is more than
 * half a division under the target and every interlock allows a valve open (nextPulse), else
 * the check. `stable`: settled on enough stable readings; a settle on a timeout or a lift neither
 * teaches the timing nor opens the valve again.
 */
function settle(ctx: PostContext, phase: P<'settling'>, grossKg: number, now: number, stable: boolean): Step {
  const cfg = ctx.cfg;
  let run = phase.run;
  const { contentKg } = masses(run, grossKg);
  const result: SettledResult = { grossKg: roundKg(grossKg), contentKg, tolerance: toleranceOf(contentKg, run.targetKg, run.cylinder.allowedFillKg, cfg.toleranceKg) };
  const commands: Command[] = [];
  let next = ctx;
  if (run.topUps === 0) {
    const overshootKg = roundKg(grossKg - run.targetGrossKg);
    const inFlightKg = run.cut ? grossKg - run.cut.gKg : undefined;
    // The preact per model is the in-flight mass the weight curve measured (else the 920i rule on the overshoot).
    const entry = stable && inFlightKg !== undefined && inFlightKg >= 0
      ? { preactKg: roundKg(inFlightKg), ...(run.flowAtCutKgPerS ? { flowKgPerS: run.flowAtCutKgPerS } : {}), fills: run.preact.fills + 1 }
      : learnPreact(run.preactUsedKg, overshootKg, run.flowAtCutKgPerS, run.preact.fills, cfg);
    next = { ...ctx, preacts: { ...ctx.preacts, [run.cylinder.model]: entry } };
    commands.push({ kind: 'learnPreact', model: run.cylinder.model, entry, overshootKg });
    const byWeight = run.cut && stable ? measuredCloseMs(cfg, run.cut.gKg, grossKg, run.cut.flowKgPerMs) : undefined;
    const closeMs = combineClose(cfg, byWeight, run.closeFbMs, run.cut?.flowKgPerMs);
    if (closeMs !== undefined) run = { ...run, closeMsThis: closeMs };
    if (closeMs !== undefined || run.feedbackMs !== undefined) {
      const m = { ...(closeMs !== undefined ? { closeMs } : {}), ...(run.openMsThis !== undefined ? { openMs: run.openMsThis } : {}), ...(run.feedbackMs !== undefined ? { feedbackMs: run.feedbackMs } : {}) };
      const learned = learnTiming(cfg, ctx.timing, m);
      next = { ...next, timing: learned.timing };
      commands.push({ kind: 'learnTiming', timing: learned.timing, changed: learned.changed });
    }
  } else if (stable && run.pulse?.closeAt !== undefined && run.cut && run.closeMsThis !== undefined) {
    // A pulse of P ms gave flow × (P + close − open): its open dead time, for the next pulse and fill;
    // less the ON's wait on the bus, the valve's own opening (unbiased, unlike the 25 ms feedback reads).
    const gainedMs = (grossKg - run.pulse.fromKg) / run.cut.flowKgPerMs;
    const openMs = run.closeMsThis + (run.pulse.closeAt - run.pulse.openAt) - gainedMs;
    if (Number.isFinite(openMs) && openMs >= 0 && openMs <= closeMaxMs(cfg) + 500) {
      const sent = run.pulse.sentAfterMs;
      run = { ...run, openMsThis: openMs, openFromPulse: true };
      // Its variance: two settled weights (a third of a division each) over the flow, plus this fill's close dead time.
      const openLagVar = 2 * (cfg.divisionKg / 3 / (run.cut?.flowKgPerMs ?? 1)) ** 2 + 25;
      const learned = learnTiming(cfg, next.timing, { openMs, ...(sent !== undefined && openMs >= sent ? { openLagMs: openMs - sent, openLagVar } : {}) });
      next = { ...next, timing: learned.timing };
      commands.push({ kind: 'learnTiming', timing: learned.timing, changed: false });
    }
  }
  const pulseMs = stable && contentKg < run.targetKg - topUpToleranceKg(cfg) ? nextPulse(next, run, grossKg, now) : undefined;
  if (typeof pulseMs === 'number') {
    const g = ctx.last?.grossKg ?? grossKg;
    const flow = { window: [], maxGrossKg: g, flowRef: { at: now, g }, valveConfirmed: false };
    const flowMs = (run.targetKg - contentKg) / (run.cut?.flowKgPerMs ?? 1);
    const topped: FillRun = { ...run, topUps: run.topUps + 1, openFromWire: false, pulse: { openAt: now, fromKg: grossKg, ms: pulseMs, flowMs } };
    const known = attemptRecord(ctx, topped, 'interrupted', now, { netFilledKg: roundKg(result.grossKg - run.startGrossKg), deviationKg: roundKg(contentKg - run.targetKg), toleranceState: result.tolerance });
    // The journal gates the open, as at the main open: a failed write keeps the valve closed.
    commands.push(journal(known, 'topUp', true), { kind: 'openValve', limitGrossKg: topped.limitGrossKg });
    return go(next, phase, { kind: 'toppingUp', run: topped, flow, pulseEndsAt: now + pulseMs }, commands);
  }
  if (pulseMs === 'swapped') return trip(next, { ...phase, run }, 'CYLINDER_SWAPPED', now, `settled gross ${roundKg(grossKg)} kg is not the cylinder filled (highest ${run.cut?.highKg} kg)`);
  const checked: P<'checked'> = { kind: 'checked', run, result };
  // Without a check-weigh scale the re-weigh is the post scale's settled reading.
  if (!cfg.checkScale) checked.reweigh = { grossKg: result.grossKg, scale: cfg.scaleDevice };
  if (result.tolerance === 'over') commands.push({ kind: 'display', reason: 'OVERFILLED_MUST_DECANT' });
  commands.push(journal(finalRecord(next, run, result, checked.reweigh, {}, now), 'settled'));
  return go(next, phase, checked, commands);
}

/**
 * This fill's close dead time from the weight curve and, where the module has a feedback input,
 * from the wire (decision → feedback closed), weighted by how well each is known: the weight by a
 * third of a division over the flow, the feedback by its read period (25 ms: ±12.5 ms, σ ≈ 7 ms).
 */
function combineClose(cfg: PostContext['cfg'], byWeight: number | undefined, byFeedback: number | undefined, flowKgPerMs: number | undefined): number | undefined {
  if (byFeedback === undefined || !(flowKgPerMs && flowKgPerMs > 0)) return byWeight;
  if (byWeight === undefined) return byFeedback;
  const vw = ((cfg.divisionKg / 3) / flowKgPerMs) ** 2;
  const vf = 7.5 ** 2;
  return (byWeight / vw + byFeedback / vf) / (1 / vw + 1 / vf);
}

/**
 * A top-up pulse is a valve open like the main one: it needs every interlock the main open needed
 * (no lock, a fresh sample that is not an overload, the cylinder still on the scale and still the
 * one filled, the filler's session not lapsed) and a pulse left. Returns its length (ms), undefined
 * when none may or can be given, 'swapped' when the weight says another cylinder stands there.
 */
function nextPulse(ctx: PostContext, run: FillRun, grossKg: number, now: number): number | 'swapped' | undefined {
  const cfg = ctx.cfg;
  const last = ctx.last;
  if (run.topUps >= cfg.topUp.maxPulses || ctx.locks.length > 0 || run.badgeLapsed) return undefined;
  if (!last || last.overload || last.grossKg < cfg.emptyBelowKg || !freshSample(ctx, now)) return undefined;
  if (!run.cut) return undefined;
  // Gas only rises: a settled weight below the highest weight of the fill, or above what the valve can have
  // let in since, is not the cylinder that was filled (issue 10 point 4), nor is the last sample.
  const ceiling = (from: number) => from + run.cut!.flowKgPerMs * 1.1 * (closeMaxMs(cfg) + (run.pulse?.ms ?? 0)) + cfg.stepChangeKg;
  const floor = run.cut.highKg - cfg.stepChangeKg;
  const from = run.pulse ? run.pulse.fromKg : run.cut.gKg;
  if (grossKg < floor || grossKg > ceiling(from) || last.grossKg < floor || last.grossKg > ceiling(from)) return 'swapped';
  const content = grossKg - run.cylinder.tareKg;
  const learnedOpen = ctx.timing?.openMs !== undefined && ctx.timing.fills >= 2 ? ctx.timing.openMs : undefined;
  const openMs = run.openFromPulse ? run.openMsThis : (learnedOpen ?? run.openMsThis);
  return planPulse(cfg, {
    gapKg: run.targetKg - content,
    roomKg: run.cylinder.allowedFillKg - content,
    flowKgPerMs: run.cut.flowKgPerMs,
    closeMs: run.closeMsThis ?? ctx.timing?.closeMs ?? closeMaxMs(cfg),
    openMs: openMs ?? 0,
  });
}

export function onChecked(ctx: PostContext, phase: P<'checked'>, input: PostInput, now: number): Step {
  const common = afterCommon(ctx, phase, input, now);
  if (common) return common;
  const cfg = ctx.cfg;
  if (input.kind === 'code' && input.read.kind === 'badge') {
    // 充装时人员不得同时兼任检查人员: compared by person (certificate number), so the filler's second card is refused too.
    const problem = badgeProblem(input.operator, 'checker') ?? (input.operator && samePerson(input.operator.person, phase.run.filler) ? 'CHECKER_IS_FILLER' : undefined);
    if (problem || !input.operator) {
      const detail = problem === 'CHECKER_IS_FILLER' ? `badge ${input.read.code}: same person as the filler (badge ${phase.run.filler.badge}, certificate ${phase.run.filler.certificate ?? 'none'})` : input.read.code;
      return stay(ctx, phase, [{ kind: 'display', reason: problem ?? 'OPERATOR_UNKNOWN', detail }]);
    }
    const checker = input.operator.person;
    const postFill = checklist(ctx, cfg.postFillItems, input.exceptions, checker, now);
    return maybeReweighed(ctx, phase, { ...phase, checker, postFill }, 'checker', now);
  }
  if (input.kind === 'checkweigh' && cfg.checkScale) {
    const s = input.sample;
    if (input.code !== undefined && input.code !== phase.run.code) return stay(ctx, phase); // another cylinder on the check scale
    // Taken off the check scale re-weighed but unsigned: it leaves unchecked (recorded and alarmed in closeOut).
    if (removed(ctx, s)) return phase.reweigh ? closeOut(ctx, phase, now) : stay(ctx, phase);
    if (!s.stable || s.overload) return stay(ctx, phase);
    // Journalled on the first stable re-weigh, not on every sample (the checker's badge journals the latest).
    return maybeReweighed(ctx, phase, { ...phase, reweigh: { grossKg: s.grossKg, scale: s.device } }, phase.reweigh ? undefined : 'reweigh', now);
  }
  if (input.kind === 'sample' && !cfg.checkScale && removed(ctx, input.sample)) {
    // Taken off before the checker badged in: it left without a post-fill check (filled_unchecked, alarm).
    return closeOut(ctx, phase, now);
  }
  return stay(ctx, phase);
}

function maybeReweighed(ctx: PostContext, from: P<'checked'>, c: P<'checked'>, stage: 'checker' | 'reweigh' | undefined, now: number): Step {
  const done = c.checker && c.postFill && c.reweigh;
  const commands: Command[] = stage || done ? [journal(finalRecord(ctx, c.run, c.result, c.reweigh, c, now), done ? 'reweighed' : (stage ?? 'reweigh'))] : [];
  if (c.checker && c.postFill && c.reweigh) {
    return go(ctx, from, { kind: 'reweighed', run: c.run, result: c.result, reweigh: c.reweigh, postFill: c.postFill, checker: c.checker }, commands);
  }
  return stay(ctx, c, commands);
}

const removed = (ctx: PostContext, s: WeightSample) => !s.overload && s.grossKg < ctx.cfg.emptyBelowKg;

export function onReweighed(ctx: PostContext, phase: P<'reweighed'>, input: PostInput, now: number): Step {
  const common = afterCommon(ctx, phase, input, now);
  if (common) return common;
  const fromCheckScale = ctx.cfg.checkScale;
  if (fromCheckScale && input.kind === 'checkweigh' && (input.code === undefined || input.code === phase.run.code) && removed(ctx, input.sample)) {
    return closeOut(ctx, phase, now);
  }
  if (!fromCheckScale && input.kind === 'sample' && removed(ctx, input.sample)) return closeOut(ctx, phase, now);
  return stay(ctx, phase);
}

/** The cylinder left the scale: the attempt's one record, the journal entry cleared. */
function closeOut(ctx: PostContext, phase: P<'checked' | 'reweighed'>, now: number): Step {
  const run = phase.run;
  const attempt = finalRecord(ctx, run, phase.result, phase.reweigh, phase, now);
  const commands: Command[] = [{ kind: 'record', attempt }, { kind: 'clearInProgress', attemptId: run.id }];
  if (attempt.mustDecant) commands.push({ kind: 'display', reason: 'OVERFILLED_MUST_DECANT' });
  if (attempt.postFillCheckMissing) {
    const missing = [!attempt.checker ? 'checker' : undefined, attempt.reweighedGrossKg === undefined ? 're-weigh' : undefined].filter(Boolean).join(' and ');
    const detail = `left without ${missing}`;
    commands.push({ kind: 'alarm', code: 'LEFT_UNCHECKED', attemptId: run.id, cylinderCode: run.code, detail }, { kind: 'display', reason: 'LEFT_UNCHECKED', detail });
  }
  return go(ctx, phase, { kind: 'closedOut', attemptId: run.id, outcome: attempt.outcome }, commands);
}

/** Tolerance is judged on the re-weighed mass when there is one (the 0.1 % check scale), else on the post scale. */
export function finalRecord(
  ctx: PostContext,
  run: FillRun,
  result: SettledResult,
  reweigh: Reweigh | undefined,
  check: { checker?: Parameters<typeof attemptRecord>[1]['filler']; postFill?: FillAttempt['postFillCheck'] },
  now: number,
): FillAttempt {
  const content = reweigh ? roundKg(reweigh.grossKg - run.cylinder.tareKg) : result.contentKg;
  const tolerance = toleranceOf(content, run.targetKg, run.cylinder.allowedFillKg, ctx.cfg.toleranceKg);
  // 充装前后检查记录 (domain.md 1): without the checker's signed check and the re-weigh the cylinder left unchecked.
  // Overfilled stays overfilled (the decant hold is the stronger consequence); the flag says the check is missing too.
  const unchecked = !check.checker || !check.postFill || !reweigh;
  const outcome: FillOutcome =
    tolerance === 'over' ? 'overfilled' : unchecked && ctx.cfg.postFillCheckRequired ? 'filled_unchecked' : tolerance === 'under' ? 'underfilled' : 'filled';
  const extra: Partial<FillAttempt> = {
    netFilledKg: roundKg(result.grossKg - run.startGrossKg),
    deviationKg: roundKg(content - run.targetKg),
    toleranceState: tolerance,
    mustDecant: tolerance === 'over',
  };
  if (reweigh) Object.assign(extra, { reweighedGrossKg: reweigh.grossKg, reweighedNetKg: content, reweighScale: reweigh.scale });
  if (check.checker) extra.checker = check.checker;
  if (check.postFill) extra.postFillCheck = check.postFill;
  if (unchecked) extra.postFillCheckMissing = true;
  return attemptRecord(ctx, run, outcome, now, extra);
}
