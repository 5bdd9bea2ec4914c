/**
 * The registry lookup behind a post's `verify` command: the cylinder's facts
 * and every eligibility refusal (gateway/eligibility/check.ts) for this post
 * now. The filler's badge is checked by the controller when it is presented
 * (after the scan), so operator refusals are left to it here.
 */
import type { Clock } from '../../protocols/clock.ts';
import { sleep } from '../../protocols/clock.ts';
import { checkCylinder, type Refusal, type StationLocks } from '../eligibility/check.ts';
import type { EligibilitySettings } from '../eligibility/settings.ts';
import type { Registry } from '../registry/registry.ts';
import { localDate } from '../registry/dates.ts';
import type { Cylinder, Operator } from '../registry/types.ts';
import type { CylinderFacts, OperatorFacts } from '../controller/index.ts';
import type { Medium } from '../records/types.ts';
import type { VerifyAnswer } from './post.ts';

const operatorCodes = new Set(['NO_OPERATOR', 'OPERATOR_UNKNOWN', 'OPERATOR_NOT_FILLER', 'CERTIFICATE_EXPIRED', 'CERTIFICATE_MISSING', 'CHECKER_IS_FILLER', 'OPERATOR_NOT_CHECKER']);

export interface VerifyContext {
  registry: Registry;
  clock: Clock;
  ownUnit: string;
  settings: EligibilitySettings;
  postMedium: Medium;
  locks(): StationLocks;
  activeAtOtherPosts(): string[];
  /** The post scale's latest sample, if fresh. */
  scale(): { grossKg: number; stable: boolean; overload: boolean } | undefined;
  /** A smart angle valve's check of its bound code (issue 4 point 3), when valves report over MQTT. */
  angleValveCheck?(valveCode: string, scanned: string): Refusal | undefined;
  /** A device of this post that cannot be used now (e.g. its relay module unreachable): refused with this reason. */
  deviceProblem?(): Refusal | undefined;
  /** How long to wait for a stable weight before judging it (ms). */
  settleWaitMs?: number;
}

export async function verifyCylinder(ctx: VerifyContext, code: string): Promise<VerifyAnswer> {
  // A cylinder is often scanned as it is set down: give the scale a moment to show it and settle.
  const deadline = ctx.clock.now() + (ctx.settleWaitMs ?? 2500);
  const settled = () => {
    const s = ctx.scale();
    return s !== undefined && s.stable && !s.overload && s.grossKg >= ctx.settings.emptyScaleBelowKg;
  };
  while (ctx.clock.now() < deadline && !settled()) await sleep(50);
  const cylinder = ctx.registry.getCylinder(code);
  const hold = cylinder ? ctx.registry.pendingDecant(code) : undefined;
  const wall = ctx.clock.wall();
  const refusals = checkCylinder({
    code,
    cylinder,
    ownUnit: ctx.ownUnit,
    postMedium: ctx.postMedium,
    today: localDate(wall),
    now: wall,
    filler: undefined,
    locks: ctx.locks(),
    activeAtOtherPosts: ctx.activeAtOtherPosts(),
    scale: ctx.scale(),
    settings: ctx.settings,
    ...(hold ? { awaitingDecant: { heldAt: hold.heldAt, ...(hold.attemptId ? { attemptId: hold.attemptId } : {}) } } : {}),
  }).filter((r) => !operatorCodes.has(r.code));
  const device = ctx.deviceProblem?.();
  if (device) refusals.unshift(device);
  if (cylinder?.valveCode && ctx.angleValveCheck) {
    const r = ctx.angleValveCheck(cylinder.valveCode, code);
    if (r) refusals.push(r);
  }
  const facts = cylinder ? cylinderFacts(cylinder, ctx.scale()) : undefined;
  if (refusals.length > 0 || !facts) {
    return { kind: 'refused', refusals: refusals.length > 0 ? refusals : [{ code: 'UNKNOWN_CODE' }], ...(cylinder ? { cylinder: partialFacts(cylinder) } : {}) };
  }
  return { kind: 'verified', cylinder: facts };
}

function partialFacts(c: Cylinder): Partial<CylinderFacts> {
  return {
    code: c.code,
    ...(c.valveCode ? { valveCode: c.valveCode } : {}),
    model: c.model,
    medium: c.medium,
    ...(c.tareKg !== null ? { tareKg: c.tareKg } : {}),
    ...(c.allowedFillKg !== null ? { allowedFillKg: c.allowedFillKg } : {}),
    fillCount: c.fillCount,
    ...(c.lastFillAt ? { lastFillAt: c.lastFillAt } : {}),
    ...(c.nextInspectionDue ? { nextInspectionDue: c.nextInspectionDue } : {}),
  };
}

function cylinderFacts(c: Cylinder, scale: { grossKg: number; stable: boolean } | undefined): CylinderFacts | undefined {
  if (c.tareKg === null || c.allowedFillKg === null) return undefined;
  const residual = scale?.stable ? Math.max(0, Math.round((scale.grossKg - c.tareKg) * 1000) / 1000) : undefined;
  return { ...(partialFacts(c) as CylinderFacts), tareKg: c.tareKg, allowedFillKg: c.allowedFillKg, ...(residual !== undefined ? { residualKg: residual } : {}) };
}

/** The registry's operator as the controller sees it: certificate valid today? */
export function operatorFacts(op: Operator | undefined, wall: number): OperatorFacts | undefined {
  if (!op) return undefined;
  const today = localDate(wall);
  return {
    person: { badge: op.badge, name: op.name, ...(op.certificateNo ? { certificate: op.certificateNo } : {}), ...(op.certificateExpires ? { certificateExpires: op.certificateExpires } : {}) },
    roles: op.roles,
    certificateValid: !!op.certificateNo && !!op.certificateExpires && op.certificateExpires >= today,
  };
}
