/**
 * Fill eligibility as pure functions over data the caller fetched: who and what may
 * be filled (domain.md 1-3). Each returns every reason that applies, not only the
 * first, so the operator and the record see the whole picture. An empty list means
 * eligible. Never throws on odd data: what cannot be checked is refused.
 */
import type { RefusalCode } from '../reasons.ts';
import { addYears } from '../registry/dates.ts';
import { isFiftyKg } from '../registry/models.ts';
import type { Cylinder, Medium, Operator, Role } from '../registry/types.ts';
import { defaultEligibilitySettings, type EligibilitySettings } from './settings.ts';

export interface Refusal {
  code: RefusalCode;
  detail?: string;
}

export interface StationLocks {
  /** Gas leak alarm; cleared only by the manual reset (domain.md 5). */
  leak: boolean;
  /** Uploads too far behind (domain.md 1, seed 000). */
  upload: boolean;
  /** Local record store nearly full (domain.md 7). */
  store: boolean;
  /** Locked by a signed remote command of the regulator or the company (issue 10 point 9). */
  remote?: boolean;
}

export interface ScaleReading {
  grossKg: number;
  stable: boolean;
  overload?: boolean;
}

export interface CylinderCheckContext {
  /** The scanned code. */
  code: string;
  /** The registry's record for the code; undefined = not registered. */
  cylinder: Cylinder | undefined;
  /** This station's filling unit. */
  ownUnit: string;
  postMedium: Medium;
  /** Local date YYYY-MM-DD. */
  today: string;
  /** Wall clock, epoch ms (for the refill interval). */
  now: number;
  /** The operator badged in at the post; undefined = none or the badge is unknown. */
  filler: Operator | undefined;
  /** The badge presented when `filler` could not be found (tells OPERATOR_UNKNOWN from NO_OPERATOR). */
  fillerBadge?: string;
  /** The checker, when already known before the fill. */
  checker?: Operator;
  locks: StationLocks;
  /** Codes currently active at the station's other posts. */
  activeAtOtherPosts: readonly string[];
  /** Last fill of the code (ISO 8601); defaults to cylinder.lastFillAt. */
  lastFillAt?: string | null;
  /** The latest sample of the post's scale; undefined = no fresh sample. */
  scale: ScaleReading | undefined;
  /** The code a smart angle valve reported, when the post reads one (domain.md 1, seed 001). */
  valveCodeRead?: string;
  /** False while the previous cylinder at this post is not closed out (nozzle interlock, domain.md 4). */
  previousClosedOut?: boolean;
  /** The cylinder is held for a decant after an overfill (issue 10 point 3): refused until a supervisor records it. */
  awaitingDecant?: { heldAt: string; attemptId?: string };
  /** False when the post's valve or another required device is offline. */
  devicesOnline?: boolean;
  settings?: EligibilitySettings;
}

const positive = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

const notRole: Record<Role, RefusalCode> = {
  filler: 'OPERATOR_NOT_FILLER',
  checker: 'OPERATOR_NOT_CHECKER',
  supervisor: 'OPERATOR_NOT_SUPERVISOR',
};

/**
 * May this operator act in this role today? At badge-in, and again before each fill
 * (a certificate can expire during a shift). Fillers and checkers need a valid P
 * certificate (domain.md 1); a certificate is valid through its expiry date.
 */
export function checkOperator(op: Operator | undefined, role: Role, today: string): Refusal[] {
  if (!op) return [{ code: 'OPERATOR_UNKNOWN', detail: role }];
  const out: Refusal[] = [];
  const who = `${role} ${op.badge}`;
  if (!op.roles.includes(role)) out.push({ code: notRole[role], detail: `${who} has roles ${op.roles.join(', ') || 'none'}` });
  if (role === 'filler' || role === 'checker') {
    if (!op.certificateNo || !op.certificateExpires) out.push({ code: 'CERTIFICATE_MISSING', detail: who });
    else if (op.certificateExpires < today) out.push({ code: 'CERTIFICATE_EXPIRED', detail: `${who}: certificate ${op.certificateNo} expired ${op.certificateExpires}` });
  }
  return out;
}

/** One person may hold two badges (a replaced card): the certificate number identifies the person. */
export function samePerson(a: Pick<Operator, 'badge' | 'certificateNo'>, b: Pick<Operator, 'badge' | 'certificateNo'>): boolean {
  if (a.badge === b.badge) return true;
  const norm = (s: string | null) => (s ?? '').replace(/\s+/g, '').toUpperCase();
  return norm(a.certificateNo) !== '' && norm(a.certificateNo) === norm(b.certificateNo);
}

/**
 * May this checker sign the post-fill check of this filler's fill? The checker must be a
 * certified checker and not the filler (充装时人员不得同时兼任检查人员, domain.md 1).
 */
export function checkChecker(filler: Operator | undefined, checker: Operator | undefined, today: string): Refusal[] {
  const out = checkOperator(checker, 'checker', today);
  if (filler && checker && samePerson(filler, checker)) out.push({ code: 'CHECKER_IS_FILLER', detail: `checker ${checker.badge}, filler ${filler.badge}` });
  return out;
}

function stationRefusals(ctx: CylinderCheckContext): Refusal[] {
  const out: Refusal[] = [];
  if (ctx.locks.leak) out.push({ code: 'STATION_LOCKED_LEAK' });
  if (ctx.locks.upload) out.push({ code: 'STATION_LOCKED_UPLOAD' });
  if (ctx.locks.store) out.push({ code: 'STATION_LOCKED_STORE' });
  if (ctx.locks.remote) out.push({ code: 'STATION_LOCKED_REMOTE' });
  if (ctx.devicesOnline === false) out.push({ code: 'DEVICE_OFFLINE' });
  if (ctx.previousClosedOut === false) out.push({ code: 'PREVIOUS_NOT_CLOSED_OUT' });
  return out;
}

function operatorRefusals(ctx: CylinderCheckContext): Refusal[] {
  if (!ctx.filler) return [ctx.fillerBadge ? { code: 'OPERATOR_UNKNOWN', detail: `filler badge ${ctx.fillerBadge}` } : { code: 'NO_OPERATOR' }];
  const out = checkOperator(ctx.filler, 'filler', ctx.today);
  if (ctx.checker) out.push(...checkChecker(ctx.filler, ctx.checker, ctx.today));
  return out;
}

/** The cylinder's own record: ownership, status, dates, medium, stamped masses (domain.md 1-2). */
function recordRefusals(c: Cylinder, ctx: CylinderCheckContext): Refusal[] {
  const out: Refusal[] = [];
  if (c.ownerUnit !== ctx.ownUnit) out.push({ code: 'NOT_OWN_CYLINDER', detail: `owner ${c.ownerUnit}` });
  // 超量气瓶严禁出站 (domain.md 1): held at every post until the decant is recorded.
  if (ctx.awaitingDecant && c.status !== 'scrapped') out.push({ code: 'AWAITING_DECANT', detail: `overfilled, held since ${ctx.awaitingDecant.heldAt}${ctx.awaitingDecant.attemptId ? ` (attempt ${ctx.awaitingDecant.attemptId})` : ''}` });
  else if (c.status === 'scrapped') out.push({ code: 'SCRAPPED' });
  else if (c.status === 'quarantined') out.push({ code: 'QUARANTINED' });
  else if (c.status !== 'active') out.push({ code: 'QUARANTINED', detail: `unknown status ${String(c.status)}` });
  // The due date is the last day within the inspection period.
  if (!c.nextInspectionDue) out.push({ code: 'INSPECTION_DATE_MISSING' });
  else if (c.nextInspectionDue < ctx.today) out.push({ code: 'INSPECTION_OVERDUE', detail: `due ${c.nextInspectionDue}` });
  if (!c.manufacturedOn || !positive(c.designLifeYears)) out.push({ code: 'DESIGN_LIFE_MISSING' });
  else {
    const end = addYears(c.manufacturedOn, c.designLifeYears);
    if (end <= ctx.today) out.push({ code: 'PAST_DESIGN_LIFE', detail: `made ${c.manufacturedOn}, ${c.designLifeYears} years: ended ${end}` });
  }
  if (c.medium !== ctx.postMedium) out.push({ code: 'MEDIUM_MISMATCH', detail: `cylinder ${c.medium}, post ${ctx.postMedium}` });
  if (!positive(c.tareKg)) out.push({ code: 'TARE_MISSING' });
  if (!positive(c.allowedFillKg)) out.push({ code: 'FILL_MASS_MISSING' });
  if (ctx.valveCodeRead !== undefined && ctx.valveCodeRead !== c.valveCode)
    out.push({ code: 'VALVE_CODE_MISMATCH', detail: `valve reports ${ctx.valveCodeRead}, registry has ${c.valveCode ?? 'none'}` });
  return out;
}

const onOrAfter = (date: string | null | undefined, from: string | null): date is string => !!date && from !== null && date >= from;

/**
 * The fields the standards require on each cylinder (issue 10 point 7). A field a rule needs
 * that is not on record is refused, like a missing tare: what cannot be checked is not filled.
 */
function standardsRefusals(c: Cylinder, ctx: CylinderCheckContext, s: EligibilitySettings): Refusal[] {
  const out: Refusal[] = [];
  const fifty = isFiftyKg(c.model, c.allowedFillKg);
  // GB 5842-2023 bans dual-phase (气液双相) cylinders; seed 001 §二(二)2: 禁止充装, scrapped or
  // converted to a single-phase valve by an inspection body first; seed 002 附件1 item 28.
  if (c.valvePhase === 'dual') out.push({ code: 'VALVE_PHASE_DUAL' });
  // GB 5842-2023: liquid-phase cylinders are made only in the 50 kg size.
  else if (c.valvePhase === 'liquid' && !fifty) out.push({ code: 'VALVE_PHASE_LIQUID_NOT_50KG', detail: `${c.model}, allowed ${c.allowedFillKg ?? '?'} kg` });
  // The banned dual-phase cylinders are 50 kg ones: a 50 kg cylinder's phase must be known.
  else if (c.valvePhase === null && fifty) out.push({ code: 'VALVE_PHASE_MISSING', detail: c.model });
  // Seed 002 附件1 item 22 (气瓶按单位办理使用登记); TSG 23: a filling unit fills cylinders registered for use by it.
  if (!c.useRegistrationNo) out.push({ code: 'USE_REGISTRATION_MISSING' });
  // GB 5842-2023 stamps the maker on every cylinder; TSG 23's pre-fill check refuses a cylinder whose maker is unknown.
  if (!c.maker) out.push({ code: 'MAKER_MISSING' });
  // GB 5842-2023 (in force 2023-12-01) adds the electronic identification mark; seed 002 附件1 item 23 / 附件2 item 39: new cylinders carry one.
  if (!c.eId && (onOrAfter(c.manufacturedOn, s.eIdRequiredFrom) || onOrAfter(c.registeredOn, s.eIdRequiredFrom)))
    out.push({ code: 'E_ID_MISSING', detail: `made ${c.manufacturedOn ?? '?'}, taken in ${c.registeredOn ?? '?'} (required from ${s.eIdRequiredFrom})` });
  // Seed 001 §三(二)4: from 2023-09-30 own cylinders newly taken in (新进) or periodically inspected (到期检验) carry a smart angle valve.
  if (!c.valveCode && c.ownerUnit === ctx.ownUnit && (onOrAfter(c.registeredOn, s.smartValveRequiredFrom) || onOrAfter(c.lastInspectedOn, s.smartValveRequiredFrom)))
    out.push({ code: 'SMART_VALVE_REQUIRED', detail: `taken in ${c.registeredOn ?? '?'}, inspected ${c.lastInspectedOn ?? '?'} (required from ${s.smartValveRequiredFrom})` });
  // Seed 002 附件1 item 26 / 附件2 item 42: 使用过的非重复充装气瓶 are never filled.
  if (!c.refillable) out.push({ code: 'NON_REFILLABLE' });
  // TSG 23: purge or vacuum (置换/抽真空) before the first fill and after inspection; seed 002 附件2 item 21 (抽真空设施).
  if (c.purgeRequired) out.push({ code: 'PURGE_REQUIRED' });
  return out;
}

/**
 * Does the weight on the scale fit the scanned cylinder? It must be its registered tare
 * plus a plausible residual, ± tolerance; anything else is a different cylinder carrying a
 * loose tag (口袋码, domain.md 1, seed 003) or a full one.
 */
function weightRefusals(c: Cylinder | undefined, ctx: CylinderCheckContext, s: EligibilitySettings): Refusal[] {
  const scale = ctx.scale;
  if (!scale || !Number.isFinite(scale.grossKg)) return [{ code: 'DEVICE_OFFLINE', detail: 'no fresh weight sample' }];
  if (scale.overload) return [{ code: 'SCALE_OVERLOAD' }];
  if (scale.grossKg < s.emptyScaleBelowKg) return [{ code: 'NO_CYLINDER_ON_SCALE', detail: `gross ${scale.grossKg} kg` }];
  if (!scale.stable) return [{ code: 'WEIGHT_NOT_STABLE' }];
  if (!c || !positive(c.tareKg)) return []; // refused already: unknown code or tare missing
  const residualMax = positive(c.allowedFillKg) ? c.allowedFillKg * s.residualMaxFraction : 0;
  const low = c.tareKg - s.weightToleranceKg;
  const high = c.tareKg + residualMax + s.weightToleranceKg;
  const r = (n: number) => Math.round(n * 1000) / 1000;
  if (scale.grossKg >= low && scale.grossKg <= high) return [];
  // Tare + allowed fill (± tolerance): the scanned cylinder itself, already full. Not a pocket code.
  if (positive(c.allowedFillKg) && Math.abs(scale.grossKg - (c.tareKg + c.allowedFillKg)) <= s.weightToleranceKg)
    return [{ code: 'ALREADY_FULL', detail: `gross ${scale.grossKg} kg = tare ${c.tareKg} + allowed ${c.allowedFillKg} kg` }];
  return [{ code: 'POCKET_CODE_WEIGHT', detail: `gross ${scale.grossKg} kg outside ${r(low)}..${r(high)} kg (tare ${c.tareKg} kg)` }];
}

/** The same code filled too recently, or active at another post (pocket code, domain.md 1). */
function codeUseRefusals(ctx: CylinderCheckContext, s: EligibilitySettings): Refusal[] {
  const out: Refusal[] = [];
  if (ctx.activeAtOtherPosts.includes(ctx.code)) out.push({ code: 'POCKET_CODE_OTHER_POST' });
  const last = ctx.lastFillAt !== undefined ? ctx.lastFillAt : ctx.cylinder?.lastFillAt;
  if (last) {
    const at = Date.parse(last);
    const elapsed = ctx.now - at;
    // An unreadable time, or one in the future (the PC clock was set back), cannot prove the interval passed.
    if (Number.isNaN(at)) out.push({ code: 'REFILLED_TOO_SOON', detail: `last fill time unreadable: ${last}` });
    else if (elapsed < s.minRefillIntervalMs)
      out.push({ code: 'REFILLED_TOO_SOON', detail: `last fill ${last}, ${Math.floor(elapsed / 60_000)} min ago (minimum ${Math.round(s.minRefillIntervalMs / 60_000)} min)` });
  }
  return out;
}

/** Every reason this cylinder may not be filled at this post now; [] = eligible. */
export function checkCylinder(ctx: CylinderCheckContext): Refusal[] {
  const s = ctx.settings ?? defaultEligibilitySettings;
  const c = ctx.cylinder;
  return [
    ...stationRefusals(ctx),
    ...operatorRefusals(ctx),
    ...(c ? [...recordRefusals(c, ctx), ...standardsRefusals(c, ctx, s)] : [{ code: 'UNKNOWN_CODE' as const, detail: ctx.code }]),
    ...codeUseRefusals(ctx, s),
    ...weightRefusals(c, ctx, s),
  ];
}
