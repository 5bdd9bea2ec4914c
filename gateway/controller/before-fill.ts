/**
 * Phases before the valve opens: idle (and its look-alikes closedOut and
 * aborted) → identified (code read, registry asked) → verified (eligible) →
 * cylinderReady (weight stable and plausible, pre-fill check confirmed by the
 * filler's badge) → filling. Scan → verify → open, never open first (对码开启充装枪,
 * domain.md 1); the valve stays closed in all of these phases.
 */
import type { CodeRead } from '../../devices/types.ts';
import type { FillAttempt } from '../records/types.ts';
import { cutoffGross, preactAt, preactEntry, targetContent } from './preact.ts';
import { attemptRecord, cylinderFields, journal, wallIso } from './record.ts';
import { badgeProblem, checklist, freshSample, go, lockActivated, lockRefusal, newAttemptId, refuseRead, stay } from './steps.ts';
import type { AttemptBase, CylinderFacts, FillRun, Phase, PostContext, PostInput, ReadyAttempt, Step, VerifiedAttempt } from './types.ts';

type P<K extends Phase['kind']> = Extract<Phase, { kind: K }>;
type PreFill = P<'identified' | 'verified' | 'cylinderReady'>;
type Refusals = FillAttempt['refusals'];

const idle: Phase = { kind: 'idle' };

/** idle, closedOut and aborted: no attempt; a cylinder code starts one unless the post is blocked. */
export function onIdle(ctx: PostContext, phase: P<'idle' | 'closedOut' | 'aborted'>, input: PostInput, now: number): Step {
  if (input.kind !== 'code' || input.read.kind !== 'cylinder') return stay(ctx, phase);
  const refusals: Refusals = [];
  // Nozzle interlock: the last filled cylinder must leave the scale first (domain.md 4).
  if (ctx.awaitRemoval) refusals.push({ code: 'PREVIOUS_NOT_CLOSED_OUT' });
  for (const lock of ctx.locks) refusals.push({ code: lockRefusal[lock] });
  if (refusals.length > 0) {
    const r = refuseRead(ctx, input.read, input.attemptId, refusals, now);
    return stay(r.ctx, phase, r.commands);
  }
  const n = newAttemptId(ctx, now, input.attemptId);
  const attempt: AttemptBase = { id: n.id, code: input.read.code, openedAt: now };
  const ref = settledGross(ctx);
  if (ref !== undefined) attempt.scanGrossKg = ref;
  // The attempt has its id: journal it now, so a kill before the open still leaves its record (issue 13 point 4).
  return go(n.ctx, phase, { kind: 'identified', attempt, deadline: now + ctx.cfg.verifyTimeoutMs }, [
    { kind: 'verify', attemptId: n.id, code: attempt.code },
    journal(attemptRecord(n.ctx, attempt, 'interrupted', now), 'scan'),
  ]);
}

/** The post scale's weight once two samples in a row were stable (undefined otherwise, or when empty). */
function settledGross(ctx: PostContext): number | undefined {
  const l = ctx.last;
  // Two steady samples: the registry's check judged the first stable one, the reference must not come later.
  if (!l || !l.stable || l.overload || ctx.stableRun < Math.min(2, ctx.cfg.stableCount) || l.grossKg < ctx.cfg.emptyBelowKg) return undefined;
  return l.grossKg;
}

/** The attempt with its scan weight: the first settled weight after the scan when the scale was not settled at the scan. */
function withScanRef<Ph extends PreFill>(ctx: PostContext, phase: Ph): Ph {
  if (phase.attempt.scanGrossKg !== undefined) return phase;
  const ref = settledGross(ctx);
  return ref === undefined ? phase : { ...phase, attempt: { ...phase.attempt, scanGrossKg: ref } };
}

/**
 * The cylinder on the scale must stay the scanned one (issue 10 point 4): a settled weight more than
 * stepChangeKg from the weight at the scan is another cylinder, or one lifted or leaned on.
 */
function swapped(ctx: PostContext, a: AttemptBase, grossKg: number): string | undefined {
  const ref = a.scanGrossKg;
  if (ref === undefined || Math.abs(grossKg - ref) <= ctx.cfg.stepChangeKg) return undefined;
  return `gross ${grossKg} kg, ${ref} kg at the scan (more than ${ctx.cfg.stepChangeKg} kg apart)`;
}

/** End a pre-fill attempt with its one record. */
function endPreFill(ctx: PostContext, phase: PreFill, to: Phase, a: AttemptBase, outcome: FillAttempt['outcome'], now: number, extra: Partial<FillAttempt> = {}): Step {
  const attempt = attemptRecord(ctx, a, outcome, now, extra);
  const commands = [{ kind: 'record', attempt } as const, ...(extra.refusals ?? []).map((r) => ({ kind: 'display', reason: r.code }) as const)];
  return go(ctx, phase, to, commands);
}

const refuse = (ctx: PostContext, phase: PreFill, a: AttemptBase, refusals: Refusals, now: number, facts: Partial<CylinderFacts> = {}) =>
  endPreFill(ctx, phase, idle, a, 'refused', now, { ...cylinderFields(facts), refusals });

/** Inputs every pre-fill phase treats alike; undefined when the phase must decide. */
function preFillCommon(ctx: PostContext, phase: PreFill, input: PostInput, now: number): Step | undefined {
  const a = phase.attempt;
  if (input.kind === 'badgeLapsed') {
    if (phase.kind !== 'cylinderReady' && !a.filler) return stay(ctx, phase);
    // The filler's confirmation lapsed with the badge session: the pre-fill check must be confirmed again.
    const { filler: _f, preFill: _p, ...rest } = a;
    const back: Phase = 'cylinder' in rest ? { kind: 'verified', attempt: rest as VerifiedAttempt } : { kind: 'identified', attempt: rest, deadline: phase.kind === 'identified' ? phase.deadline : now };
    return go(ctx, phase, back, [{ kind: 'display', reason: 'BADGE_TIMEOUT' }]);
  }
  if (input.kind === 'sample' && input.sample.stable && !input.sample.overload && input.sample.grossKg >= ctx.cfg.emptyBelowKg) {
    const why = swapped(ctx, a, input.sample.grossKg);
    if (why) return refuse(ctx, phase, a, [{ code: 'CYLINDER_SWAPPED', detail: why }], now, 'cylinder' in a ? (a as VerifiedAttempt).cylinder : {});
  }
  const lock = lockActivated(input);
  if (lock) return refuse(ctx, phase, a, [{ code: lockRefusal[lock] }], now);
  if (input.kind === 'stop') {
    const trips = [{ code: 'OPERATOR_STOP' as const, at: wallIso(ctx, now) }];
    return endPreFill(ctx, phase, { kind: 'aborted', attemptId: a.id, reason: 'OPERATOR_STOP' }, a, 'aborted', now, { trips });
  }
  if (input.kind === 'code' && input.read.kind === 'cylinder') {
    if (input.read.code === a.code) return stay(ctx, phase); // the same cylinder scanned again
    return refuseOther(ctx, phase, input.read, input.attemptId, now);
  }
  if ((input.kind === 'verified' || input.kind === 'refused') && input.attemptId !== a.id) return stay(ctx, phase); // a stale reply
  if (phase.kind === 'verified' && input.kind === 'sample' && !input.sample.overload && input.sample.grossKg < ctx.cfg.emptyBelowKg) {
    // Taken away before a filler with a valid certificate confirmed the pre-fill check: that is the refusal.
    const why = a.badgeRefused
      ? { code: a.badgeRefused.code, detail: `badge ${a.badgeRefused.badge}; cylinder removed before a valid filler badged in` }
      : { code: 'NO_OPERATOR' as const, detail: 'cylinder removed before a filler badged in' };
    return refuse(ctx, phase, a, [why], now, phase.attempt.cylinder);
  }
  return undefined;
}

/** Another cylinder scanned while this attempt is open: refused with its own record. */
export function refuseOther(ctx: PostContext, phase: Phase, read: CodeRead, givenId: string | undefined, now: number): Step {
  const r = refuseRead(ctx, read, givenId, [{ code: 'PREVIOUS_NOT_CLOSED_OUT' }], now);
  return stay(r.ctx, phase, r.commands);
}

export function onIdentified(ctx: PostContext, at: P<'identified'>, input: PostInput, now: number): Step {
  const phase = withScanRef(ctx, at);
  const common = preFillCommon(ctx, phase, input, now);
  if (common) return common;
  const a = phase.attempt;
  switch (input.kind) {
    case 'verified': {
      const refusals = factProblems(input.cylinder, a.code, ctx);
      if (refusals.length > 0) return refuse(ctx, phase, a, refusals, now, input.cylinder);
      const verified: P<'verified'> = { kind: 'verified', attempt: { ...a, cylinder: input.cylinder } };
      // Scanned while the scale was still moving: the weight the registry's check judged is the scan weight.
      const c = input.cylinder;
      if (verified.attempt.scanGrossKg === undefined && c.residualKg !== undefined && Number.isFinite(c.residualKg)) {
        verified.attempt.scanGrossKg = Math.round((c.tareKg + c.residualKg) * 1000) / 1000;
      }
      return tryReady(ctx, phase, verified, now) ?? go(ctx, phase, verified, [journal(attemptRecord(ctx, verified.attempt, 'interrupted', now), 'verified')]);
    }
    case 'refused': {
      const refusals: Refusals = input.refusals.length > 0 ? input.refusals : [{ code: 'UNKNOWN_CODE' }];
      return refuse(ctx, phase, a, refusals, now, input.cylinder);
    }
    case 'tick':
      return now >= phase.deadline ? refuse(ctx, phase, a, [{ code: 'VERIFY_TIMEOUT' }], now) : stay(ctx, phase);
    case 'code':
      return acceptFiller(ctx, phase, input, now, (attempt) => ({ ...phase, attempt }));
    default:
      return stay(ctx, phase);
  }
}

/** Defence in depth: the registry checked these too, but a wrong answer must not open the valve. */
function factProblems(c: CylinderFacts, code: string, ctx: PostContext): Refusals {
  const out: Refusals = [];
  if (c.code !== code) out.push({ code: 'UNKNOWN_CODE', detail: `registry answered for ${c.code}` });
  if (c.medium !== ctx.cfg.medium) out.push({ code: 'MEDIUM_MISMATCH', detail: `${c.medium} cylinder at a ${ctx.cfg.medium} post` });
  if (!(Number.isFinite(c.tareKg) && c.tareKg > 0)) out.push({ code: 'TARE_MISSING' });
  if (!(Number.isFinite(c.allowedFillKg) && c.allowedFillKg > 0)) out.push({ code: 'FILL_MASS_MISSING' });
  return out;
}

/** A badge read before the fill: the filler confirms the pre-fill checklist (exceptions = items not ok). */
function acceptFiller<Ph extends P<'identified' | 'verified'>>(
  ctx: PostContext,
  phase: Ph,
  input: Extract<PostInput, { kind: 'code' }>,
  now: number,
  withAttempt: (a: Ph['attempt']) => Ph,
): Step {
  if (input.read.kind !== 'badge') return stay(ctx, phase);
  // One filler, one post (BadgeSessions): the runtime says where else this person has an open attempt.
  const problem = badgeProblem(input.operator, 'filler') ?? (input.operator?.busyAt ? 'FILLER_AT_OTHER_POST' : undefined);
  if (problem || !input.operator) {
    // Shown at once; the attempt stays open for a valid filler, and remembers why for its record.
    const withProblem = withAttempt({ ...phase.attempt, badgeRefused: { code: problem ?? 'OPERATOR_UNKNOWN', badge: input.read.code } });
    const detail = problem === 'FILLER_AT_OTHER_POST' ? `badge ${input.read.code}, open attempt at post ${input.operator?.busyAt}` : input.read.code;
    return stay(ctx, withProblem, [{ kind: 'display', reason: problem ?? 'OPERATOR_UNKNOWN', detail }]);
  }
  const filler = input.operator.person;
  const preFill = checklist(ctx, ctx.cfg.preFillItems, input.exceptions, filler, now);
  const attempt = { ...phase.attempt, filler, preFill };
  const failed = preFill.items.filter((i) => !i.ok);
  if (failed.length > 0) {
    return refuse(ctx, phase, attempt, [{ code: 'PRE_FILL_CHECK_FAILED', detail: failed.map((i) => i.item).join(', ') }], now);
  }
  const next = withAttempt(attempt);
  const noted = journal(attemptRecord(ctx, next.attempt, 'interrupted', now), 'filler');
  return next.kind === 'verified' ? (tryReady(ctx, phase, next, now) ?? stay(ctx, next, [noted])) : stay(ctx, next, [noted]);
}

export function onVerified(ctx: PostContext, at: P<'verified'>, input: PostInput, now: number): Step {
  const phase = withScanRef(ctx, at);
  const common = preFillCommon(ctx, phase, input, now);
  if (common) return common;
  if (input.kind === 'code') return acceptFiller(ctx, phase, input, now, (attempt) => ({ ...phase, attempt: attempt as VerifiedAttempt }));
  if (input.kind === 'sample') return tryReady(ctx, phase, phase, now) ?? stay(ctx, phase);
  return stay(ctx, phase);
}

/**
 * Ready when the filler has confirmed the pre-fill check and the weight is
 * stable and plausible for this cylinder: gross near tare + residual (a code
 * scanned for another cylinder, 口袋码, shows up here: domain.md 1).
 */
function tryReady(ctx: PostContext, from: PreFill, v: P<'verified'>, now: number): Step | undefined {
  const a = v.attempt;
  const last = ctx.last;
  if (!a.filler || !a.preFill || !last || last.overload || ctx.stableRun < ctx.cfg.stableCount || last.grossKg < ctx.cfg.emptyBelowKg) return undefined;
  const c = a.cylinder;
  const g = last.grossKg;
  const lo = c.tareKg - ctx.cfg.tareMatchKg;
  const hi = c.residualKg !== undefined ? c.tareKg + Math.max(0, c.residualKg) + ctx.cfg.tareMatchKg : c.tareKg + c.allowedFillKg;
  const why = swapped(ctx, a, g);
  if (why) return refuse(ctx, from, a, [{ code: 'CYLINDER_SWAPPED', detail: `at the badge: ${why}` }], now, c);
  if (g < lo || g > hi) {
    return refuse(ctx, from, a, [{ code: 'POCKET_CODE_WEIGHT', detail: `gross ${g} kg, expected ${lo.toFixed(2)}-${hi.toFixed(2)} kg` }], now);
  }
  const targetKg = targetContent(c, ctx.cfg);
  const targetGrossKg = c.tareKg + targetKg;
  const limitGrossKg = c.tareKg + c.allowedFillKg;
  const preact = preactEntry(ctx.preacts, c.model, ctx.cfg);
  if (g >= cutoffGross(targetGrossKg, limitGrossKg, preactAt(preact, undefined, ctx.cfg))) {
    return refuse(ctx, from, a, [{ code: 'ALREADY_FULL', detail: `gross ${g} kg, target ${targetGrossKg.toFixed(2)} kg` }], now);
  }
  const ready: ReadyAttempt = { ...a, filler: a.filler, preFill: a.preFill, startGrossKg: g, targetKg, targetGrossKg, limitGrossKg, preact };
  return go(ctx, from, { kind: 'cylinderReady', attempt: ready }, [journal(attemptRecord(ctx, ready, 'interrupted', now), 'ready')]);
}

export function onReady(ctx: PostContext, at: P<'cylinderReady'>, input: PostInput, now: number): Step {
  const phase = withScanRef(ctx, at);
  const common = preFillCommon(ctx, phase, input, now);
  if (common) return common;
  const a = phase.attempt;
  if (input.kind === 'start') return tryStart(ctx, phase, now);
  if (input.kind !== 'sample') return stay(ctx, phase);
  const s = input.sample;
  if (s.grossKg < ctx.cfg.emptyBelowKg && !s.overload) {
    const detail = 'cylinder removed before filling';
    return endPreFill(ctx, phase, { kind: 'aborted', attemptId: a.id }, a, 'aborted', now, { trips: [], refusals: [{ code: 'NO_CYLINDER_ON_SCALE', detail }] });
  }
  if (s.stable && !s.overload && Math.abs(s.grossKg - a.startGrossKg) > ctx.cfg.stepChangeKg) {
    // Another cylinder was put on the scale after the check: the code no longer belongs to what is weighed.
    return refuse(ctx, phase, a, [{ code: 'CYLINDER_SWAPPED', detail: `gross changed from ${a.startGrossKg} kg at the badge to ${s.grossKg} kg` }], now, a.cylinder);
  }
  if (ctx.cfg.autoStart && ctx.stableRun >= ctx.cfg.stableCount) return tryStart(ctx, phase, now);
  return stay(ctx, phase);
}

/** Open the valve: fresh, sane weight and no lock, or a display saying why not. Journal first, then open. */
function tryStart(ctx: PostContext, phase: P<'cylinderReady'>, now: number): Step {
  const last = ctx.last;
  if (ctx.locks.length > 0) return stay(ctx, phase, [{ kind: 'display', reason: lockRefusal[ctx.locks[0]] }]);
  if (!last || !freshSample(ctx, now)) return stay(ctx, phase, [{ kind: 'display', reason: 'DEVICE_OFFLINE', detail: 'no fresh weight' }]);
  if (last.overload) return stay(ctx, phase, [{ kind: 'display', reason: 'SCALE_OVERLOAD' }]);
  const a = phase.attempt;
  // The weight at the open is the scanned cylinder's: compared with the weight at the scan and at the badge.
  const why = swapped(ctx, a, last.grossKg) ?? (Math.abs(last.grossKg - a.startGrossKg) > ctx.cfg.stepChangeKg ? `gross ${last.grossKg} kg, ${a.startGrossKg} kg at the badge` : undefined);
  if (why && !last.stable) return stay(ctx, phase, [{ kind: 'display', reason: 'WEIGHT_NOT_STABLE', detail: why }]);
  if (why) return refuse(ctx, phase, a, [{ code: 'CYLINDER_SWAPPED', detail: `at the open: ${why}` }], now, a.cylinder);
  const startGrossKg = last.stable ? last.grossKg : a.startGrossKg;
  const preactUsedKg = preactAt(a.preact, undefined, ctx.cfg);
  if (last.grossKg >= cutoffGross(a.targetGrossKg, a.limitGrossKg, preactUsedKg)) return stay(ctx, phase, [{ kind: 'display', reason: 'ALREADY_FULL' }]);
  const run: FillRun = { ...a, startGrossKg, fillStartedAt: now, fillStartedWall: wallIso(ctx, now), preactUsedKg, topUps: 0 };
  const atOpen = journal(attemptRecord(ctx, run, 'interrupted', now), 'open', true);
  const flow = { window: [], maxGrossKg: last.grossKg, flowRef: { at: now, g: last.grossKg }, valveConfirmed: false };
  return go({ ...ctx, awaitRemoval: true }, phase, { kind: 'filling', run, flow }, [atOpen, { kind: 'openValve', limitGrossKg: run.limitGrossKg }]);
}
