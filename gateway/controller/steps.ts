/**
 * Small helpers shared by the phase handlers: building steps, status commands,
 * attempt ids, refusals of a code read, checklists and badge checks.
 */
import type { CodeRead } from '../../devices/types.ts';
import type { ReasonCode, RefusalCode } from '../reasons.ts';
import type { CheckItem, CheckRecord, FillAttempt, Person } from '../records/types.ts';
import { attemptRecord, wallIso } from './record.ts';
import { samePerson as sameOperator } from '../eligibility/check.ts';
import type { Command, LockKind, OperatorFacts, OperatorRole, Phase, PhaseKind, PostContext, PostInput, Step } from './types.ts';

/** The only phases in which the valve may be open. */
export const VALVE_OPEN_PHASES: ReadonlySet<PhaseKind> = new Set<PhaseKind>(['filling', 'toppingUp']);

export function attemptIdOf(p: Phase): string | undefined {
  switch (p.kind) {
    case 'identified':
    case 'verified':
    case 'cylinderReady':
      return p.attempt.id;
    case 'filling':
    case 'toppingUp':
    case 'cutOff':
    case 'settling':
    case 'checked':
    case 'reweighed':
      return p.run.id;
    case 'closedOut':
    case 'aborted':
    case 'fault':
      return p.attemptId;
    case 'idle':
      return undefined;
  }
}

function reasonOf(p: Phase): ReasonCode | undefined {
  if (p.kind === 'fault') return p.reason;
  if (p.kind === 'aborted') return p.reason;
  return undefined;
}

/** Move to a phase; a status command tells the operator display when the phase kind changes. */
export function go(ctx: PostContext, from: Phase, to: Phase, commands: Command[] = [], wakeAt?: number): Step {
  const out = [...commands];
  if (from.kind !== to.kind) {
    const status: Command = { kind: 'status', phase: to.kind };
    const id = attemptIdOf(to);
    const reason = reasonOf(to);
    if (id !== undefined) status.attemptId = id;
    if (reason !== undefined) status.reason = reason;
    out.push(status);
  }
  return wakeAt === undefined ? { state: { ctx, phase: to }, commands: out } : { state: { ctx, phase: to }, commands: out, wakeAt };
}

export function stay(ctx: PostContext, phase: Phase, commands: Command[] = [], wakeAt?: number): Step {
  return go(ctx, phase, phase, commands, wakeAt);
}

export function staleLimitMs(ctx: PostContext): number {
  return (ctx.cfg.staleAfterPolls * 1000) / ctx.cfg.pollHz;
}

/** A sample from the post scale arrived within the stale limit. */
export function freshSample(ctx: PostContext, now: number): boolean {
  return ctx.last !== undefined && now - ctx.last.at < staleLimitMs(ctx);
}

export const lockRefusal: Record<LockKind, RefusalCode> = {
  leak: 'STATION_LOCKED_LEAK',
  upload: 'STATION_LOCKED_UPLOAD',
  store: 'STATION_LOCKED_STORE',
  remote: 'STATION_LOCKED_REMOTE',
};

/** The lock this input switched on, if any. */
export function lockActivated(input: PostInput): LockKind | undefined {
  if (input.kind === 'leakAlarm' && input.active) return 'leak';
  if (input.kind === 'stationLock' && input.active) return input.lock;
  return undefined;
}

/** Attempt ids: the runtime's (a UUID) when given, else post-epoch-sequence, unique per post. */
export function newAttemptId(ctx: PostContext, now: number, given?: string): { id: string; ctx: PostContext } {
  const seq = ctx.seq + 1;
  const epoch = Math.round(ctx.wallRef.epoch + (now - ctx.wallRef.mono));
  return { id: given ?? `${ctx.cfg.post}-${epoch}-${seq}`, ctx: { ...ctx, seq } };
}

/** A cylinder code read that cannot become an attempt here: it is still an attempt, so it gets one refused record. */
export function refuseRead(ctx: PostContext, read: CodeRead, givenId: string | undefined, refusals: FillAttempt['refusals'], now: number): { ctx: PostContext; commands: Command[] } {
  const n = newAttemptId(ctx, now, givenId);
  const attempt = attemptRecord(n.ctx, { id: n.id, code: read.code, openedAt: now }, 'refused', now, { refusals });
  const commands: Command[] = [{ kind: 'record', attempt }];
  for (const r of refusals) commands.push({ kind: 'display', reason: r.code, ...(r.detail ? { detail: r.detail } : {}) });
  return { ctx: n.ctx, commands };
}

/** The standard checklist confirmed by a badge; exceptions are items marked not ok (unknown items are added). */
export function checklist(ctx: PostContext, items: readonly string[], exceptions: readonly CheckItem[] | undefined, by: Person, now: number): CheckRecord {
  const bad = new Map((exceptions ?? []).filter((e) => !e.ok).map((e) => [e.item, e]));
  const list: CheckItem[] = items.map((item) => bad.get(item) ?? { item, ok: true });
  for (const e of bad.values()) if (!items.includes(e.item)) list.push(e);
  return { by, at: wallIso(ctx, now), items: list };
}

/** Why this badge may not act in this role (undefined = it may). */
export function badgeProblem(op: OperatorFacts | undefined, role: OperatorRole): RefusalCode | undefined {
  if (!op) return 'OPERATOR_UNKNOWN';
  if (!op.roles.includes(role)) return role === 'filler' ? 'OPERATOR_NOT_FILLER' : role === 'checker' ? 'OPERATOR_NOT_CHECKER' : 'OPERATOR_NOT_SUPERVISOR';
  if (!op.certificateValid) return 'CERTIFICATE_EXPIRED';
  return undefined;
}

export const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Filler and checker are compared by person, not badge (issue 10 point 2): the certificate-based
 * rule of gateway/eligibility/check.ts, applied to the controller's Person.
 */
export function samePerson(a: Person, b: Person): boolean {
  return sameOperator({ badge: a.badge, certificateNo: a.certificate ?? null }, { badge: b.badge, certificateNo: b.certificate ?? null });
}
