import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkChecker, checkCylinder, checkOperator, type CylinderCheckContext, type Refusal } from '../../gateway/eligibility/check.ts';
import { defaultEligibilitySettings, eligibilitySettingsSchema } from '../../gateway/eligibility/settings.ts';
import { reasonMessage, refusalReasons, type RefusalCode } from '../../gateway/reasons.ts';
import type { Cylinder, Operator } from '../../gateway/registry/types.ts';

const today = '2026-06-15';
const now = Date.parse('2026-06-15T10:00:00+08:00');
const minutesAgo = (m: number) => new Date(now - m * 60_000).toISOString();

const cyl = (over: Partial<Cylinder> = {}): Cylinder => ({
  code: 'C1', valveCode: 'V1', ownerUnit: 'U1', model: 'YSP35.5', waterVolumeL: 35.5, allowedFillKg: 14.9, tareKg: 16.5,
  medium: 'LPG', manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31', status: 'active',
  fillCount: 3, lastFillAt: null, updatedAt: '2026-01-01T00:00:00.000+08:00',
  valvePhase: 'gas', useRegistrationNo: 'R-C1', maker: 'M1', eId: 'EID-C1', registeredOn: '2024-02-01', lastInspectedOn: null,
  refillable: true, purgeRequired: false, ...over,
});
const op = (badge: string, over: Partial<Operator> = {}): Operator => ({
  badge, name: badge, roles: ['filler'], certificateNo: `P-${badge}`, certificateExpires: '2027-12-31', updatedAt: '', ...over,
});
const filler = op('B1');
const checker = op('B2', { roles: ['checker'] });

const base = (over: Partial<CylinderCheckContext> = {}): CylinderCheckContext => ({
  code: 'C1', cylinder: cyl(), ownUnit: 'U1', postMedium: 'LPG', today, now, filler, checker,
  locks: { leak: false, upload: false, store: false }, activeAtOtherPosts: ['C7'],
  scale: { grossKg: 17.0, stable: true }, ...over,
});

const codes = (r: Refusal[]) => r.map((x) => x.code).sort();
const seen = new Set<RefusalCode>();

test('the base context is eligible (no refusal)', () => {
  assert.equal(checkCylinder(base()), []);
});

// Each row changes one thing and must produce exactly one refusal code.
const rows: [string, Partial<CylinderCheckContext>, RefusalCode][] = [
  ['unknown code', { cylinder: undefined }, 'UNKNOWN_CODE'],
  ['foreign cylinder', { cylinder: cyl({ ownerUnit: 'U2' }) }, 'NOT_OWN_CYLINDER'],
  ['scrapped', { cylinder: cyl({ status: 'scrapped' }) }, 'SCRAPPED'],
  ['quarantined', { cylinder: cyl({ status: 'quarantined' }) }, 'QUARANTINED'],
  ['overfilled, held until the decant is recorded', { cylinder: cyl({ status: 'quarantined' }), awaitingDecant: { heldAt: '2026-06-15T09:00:00+08:00' } }, 'AWAITING_DECANT'],
  ['held for a decant though released by hand', { awaitingDecant: { heldAt: '2026-06-15T09:00:00+08:00' } }, 'AWAITING_DECANT'],
  ['inspection due yesterday', { cylinder: cyl({ nextInspectionDue: '2026-06-14' }) }, 'INSPECTION_OVERDUE'],
  ['no inspection date', { cylinder: cyl({ nextInspectionDue: null }) }, 'INSPECTION_DATE_MISSING'],
  ['design life ends today', { cylinder: cyl({ manufacturedOn: '2018-06-15', designLifeYears: 8 }) }, 'PAST_DESIGN_LIFE'],
  ['no design life', { cylinder: cyl({ designLifeYears: null }) }, 'DESIGN_LIFE_MISSING'],
  ['no manufacture date', { cylinder: cyl({ manufacturedOn: null }) }, 'DESIGN_LIFE_MISSING'],
  ['LPG cylinder at a DME post', { postMedium: 'DME' }, 'MEDIUM_MISMATCH'],
  ['tare missing', { cylinder: cyl({ tareKg: null }) }, 'TARE_MISSING'],
  ['tare zero', { cylinder: cyl({ tareKg: 0 }) }, 'TARE_MISSING'],
  ['allowed fill mass missing', { cylinder: cyl({ allowedFillKg: null }), scale: { grossKg: 16.6, stable: true } }, 'FILL_MASS_MISSING'],
  ['no one badged in', { filler: undefined }, 'NO_OPERATOR'],
  ['badge not registered', { filler: undefined, fillerBadge: 'B9' }, 'OPERATOR_UNKNOWN'],
  ['operator is only a checker', { filler: op('B1', { roles: ['checker'] }) }, 'OPERATOR_NOT_FILLER'],
  ['certificate expired yesterday', { filler: op('B1', { certificateExpires: '2026-06-14' }) }, 'CERTIFICATE_EXPIRED'],
  ['no certificate on record', { filler: op('B1', { certificateNo: null }) }, 'CERTIFICATE_MISSING'],
  ['checker is the filler', { filler: op('B1', { roles: ['filler', 'checker'] }), checker: op('B1', { roles: ['filler', 'checker'] }) }, 'CHECKER_IS_FILLER'],
  ['checker without checker role', { checker: op('B2', { roles: ['filler'] }) }, 'OPERATOR_NOT_CHECKER'],
  ['leak alarm', { locks: { leak: true, upload: false, store: false } }, 'STATION_LOCKED_LEAK'],
  ['uploads behind', { locks: { leak: false, upload: true, store: false } }, 'STATION_LOCKED_UPLOAD'],
  ['store nearly full', { locks: { leak: false, upload: false, store: true } }, 'STATION_LOCKED_STORE'],
  ['locked by a signed remote command', { locks: { leak: false, upload: false, store: false, remote: true } }, 'STATION_LOCKED_REMOTE'],
  ['lighter than the tare (a smaller cylinder)', { scale: { grossKg: 13.0, stable: true } }, 'POCKET_CODE_WEIGHT'],
  ['heavier than tare + residual (another or a full cylinder)', { scale: { grossKg: 25.0, stable: true } }, 'POCKET_CODE_WEIGHT'],
  ['tare + allowed fill on the scale (already full)', { scale: { grossKg: 16.5 + 14.9 + 0.2, stable: true } }, 'ALREADY_FULL'],
  ['same code at another post', { activeAtOtherPosts: ['C7', 'C1'] }, 'POCKET_CODE_OTHER_POST'],
  ['filled 10 min ago', { cylinder: cyl({ lastFillAt: minutesAgo(10) }) }, 'REFILLED_TOO_SOON'],
  ['last fill in the future (clock set back)', { cylinder: cyl({ lastFillAt: minutesAgo(-60) }) }, 'REFILLED_TOO_SOON'],
  ['last fill passed by the caller', { lastFillAt: minutesAgo(5) }, 'REFILLED_TOO_SOON'],
  ['smart valve bound to another code', { valveCodeRead: 'V9' }, 'VALVE_CODE_MISMATCH'],
  ['previous cylinder not closed out', { previousClosedOut: false }, 'PREVIOUS_NOT_CLOSED_OUT'],
  ['scale empty', { scale: { grossKg: 0.2, stable: true } }, 'NO_CYLINDER_ON_SCALE'],
  ['no weight sample', { scale: undefined }, 'DEVICE_OFFLINE'],
  ['valve offline', { devicesOnline: false }, 'DEVICE_OFFLINE'],
  ['weight moving', { scale: { grossKg: 17.0, stable: false } }, 'WEIGHT_NOT_STABLE'],
  ['scale overload', { scale: { grossKg: 17.0, stable: true, overload: true } }, 'SCALE_OVERLOAD'],
  // Issue 10 point 7: registry fields the standards require.
  ['dual-phase valve (GB 5842-2023; seed 001)', { cylinder: cyl({ valvePhase: 'dual' }) }, 'VALVE_PHASE_DUAL'],
  ['liquid-phase valve on a 15 kg cylinder (GB 5842-2023: 50 kg only)', { cylinder: cyl({ valvePhase: 'liquid' }) }, 'VALVE_PHASE_LIQUID_NOT_50KG'],
  ['50 kg cylinder with no valve phase on record', { cylinder: cyl({ model: 'YSP118', waterVolumeL: 118, allowedFillKg: 49.5, tareKg: 45, valvePhase: null }), scale: { grossKg: 45.5, stable: true } }, 'VALVE_PHASE_MISSING'],
  ['no use-registration number (seed 002 item 22)', { cylinder: cyl({ useRegistrationNo: null }) }, 'USE_REGISTRATION_MISSING'],
  ['maker unknown (GB 5842-2023 stamp)', { cylinder: cyl({ maker: null }) }, 'MAKER_MISSING'],
  ['made to GB 5842-2023 without an e-ID', { cylinder: cyl({ eId: null }) }, 'E_ID_MISSING'],
  ['own cylinder taken in after the smart-valve date without one (seed 001)', { cylinder: cyl({ valveCode: null }) }, 'SMART_VALVE_REQUIRED'],
  ['re-inspected after the smart-valve date without one', { cylinder: cyl({ valveCode: null, registeredOn: null, lastInspectedOn: '2026-03-01', manufacturedOn: '2020-01-01', eId: null }) }, 'SMART_VALVE_REQUIRED'],
  ['non-refillable cylinder (seed 002 item 26)', { cylinder: cyl({ refillable: false }) }, 'NON_REFILLABLE'],
  ['purge or vacuum pending (TSG 23)', { cylinder: cyl({ purgeRequired: true }) }, 'PURGE_REQUIRED'],
];

for (const [name, patch, code] of rows) {
  test(`refuses: ${name} → ${code}`, () => {
    const r = checkCylinder(base(patch));
    assert.equal(codes(r), [code]);
    seen.add(code);
  });
}

// Boundaries on the eligible side: each must give no refusal.
const boundaries: [string, Partial<CylinderCheckContext>][] = [
  ['inspection due today (last valid day)', { cylinder: cyl({ nextInspectionDue: today }) }],
  ['design life ends tomorrow', { cylinder: cyl({ manufacturedOn: '2018-06-16', designLifeYears: 8 }) }],
  ['certificate expires today (valid through the day)', { filler: op('B1', { certificateExpires: today }) }],
  ['filled exactly 30 min ago', { cylinder: cyl({ lastFillAt: minutesAgo(30) }) }],
  ['gross at tare − tolerance', { scale: { grossKg: 16.2, stable: true } }],
  ['gross at tare + 20 % of allowed fill + tolerance', { scale: { grossKg: 16.5 + 14.9 * 0.2 + 0.3, stable: true } }],
  ['checker not yet known', { checker: undefined }],
  ['valve code matches', { valveCodeRead: 'V1' }],
  ['DME cylinder at a DME post', { cylinder: cyl({ medium: 'DME' }), postMedium: 'DME' }],
  ['liquid-phase valve on a 50 kg cylinder', { cylinder: cyl({ model: 'YSP118', waterVolumeL: 118, allowedFillKg: 49.5, tareKg: 45, valvePhase: 'liquid' }), scale: { grossKg: 45.5, stable: true } }],
  ['small cylinder with no valve phase on record (gas phase is the only kind)', { cylinder: cyl({ valvePhase: null }) }],
  ['no e-ID, made before GB 5842-2023 and taken in before it', { cylinder: cyl({ eId: null, manufacturedOn: '2022-05-01', registeredOn: '2022-06-01' }) }],
  ['no smart valve, taken in and inspected before the date', { cylinder: cyl({ valveCode: null, manufacturedOn: '2022-05-01', registeredOn: '2022-06-01', lastInspectedOn: '2023-09-29', eId: null }) }],
  ['no smart valve and the requirement switched off', { cylinder: cyl({ valveCode: null }), settings: { ...defaultEligibilitySettings, smartValveRequiredFrom: null } }],
];
for (const [name, patch] of boundaries) {
  test(`eligible: ${name}`, () => {
    assert.equal(checkCylinder(base(patch)), []);
  });
}

test('a combined row returns every reason, not only the first', () => {
  const r = checkCylinder(
    base({
      cylinder: cyl({ status: 'scrapped', nextInspectionDue: '2025-01-01', ownerUnit: 'U2' }),
      filler: undefined,
      fillerBadge: 'B9',
      locks: { leak: true, upload: false, store: true },
      activeAtOtherPosts: ['C1'],
      scale: { grossKg: 30, stable: true },
    }),
  );
  assert.equal(codes(r), ['INSPECTION_OVERDUE', 'NOT_OWN_CYLINDER', 'OPERATOR_UNKNOWN', 'POCKET_CODE_OTHER_POST', 'POCKET_CODE_WEIGHT', 'SCRAPPED', 'STATION_LOCKED_LEAK', 'STATION_LOCKED_STORE'].sort());
  assert.ok(r.find((x) => x.code === 'NOT_OWN_CYLINDER')?.detail?.includes('U2'));
  assert.ok(r.find((x) => x.code === 'POCKET_CODE_WEIGHT')?.detail?.includes('30'));
});

test('tolerance and residual come from the settings', () => {
  const strict = { ...defaultEligibilitySettings, weightToleranceKg: 0.1, residualMaxFraction: 0 };
  assert.equal(codes(checkCylinder(base({ scale: { grossKg: 16.7, stable: true }, settings: strict }))), ['POCKET_CODE_WEIGHT']);
  assert.equal(checkCylinder(base({ scale: { grossKg: 16.6, stable: true }, settings: strict })), []);
  const quick = { ...defaultEligibilitySettings, minRefillIntervalMs: 5 * 60_000 };
  assert.equal(checkCylinder(base({ cylinder: cyl({ lastFillAt: minutesAgo(10) }), settings: quick })), []);
});

test('settings schema: defaults, and errors with their path', () => {
  assert.equal(eligibilitySettingsSchema.parse({}), defaultEligibilitySettings);
  assert.is(defaultEligibilitySettings.smartValveRequiredFrom, '2023-09-30'); // seed 001 §三(二)4
  assert.is(defaultEligibilitySettings.eIdRequiredFrom, '2023-12-01'); // GB 5842-2023 in force
  assert.not.ok(eligibilitySettingsSchema.safeParse({ smartValveRequiredFrom: '2023-13-01' }).success);
  assert.is(defaultEligibilitySettings.weightToleranceKg, 0.3);
  assert.is(defaultEligibilitySettings.minRefillIntervalMs, 30 * 60_000);
  const bad = eligibilitySettingsSchema.safeParse({ weightToleranceKg: -1, residualMaxFraction: 2 });
  assert.not.ok(bad.success);
  assert.equal(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['residualMaxFraction', 'weightToleranceKg']);
});

const operatorRows: [string, Operator | undefined, 'filler' | 'checker' | 'supervisor', RefusalCode[]][] = [
  ['certified filler', filler, 'filler', []],
  ['unknown badge', undefined, 'filler', ['OPERATOR_UNKNOWN']],
  ['checker badging in to fill', checker, 'filler', ['OPERATOR_NOT_FILLER']],
  ['filler acting as checker', filler, 'checker', ['OPERATOR_NOT_CHECKER']],
  ['filler as supervisor', filler, 'supervisor', ['OPERATOR_NOT_SUPERVISOR']],
  ['supervisor needs no P certificate', op('S1', { roles: ['supervisor'], certificateNo: null, certificateExpires: null }), 'supervisor', []],
  ['expired and wrong role together', op('B3', { roles: ['checker'], certificateExpires: '2024-12-31' }), 'filler', ['CERTIFICATE_EXPIRED', 'OPERATOR_NOT_FILLER']],
  ['no expiry date on record', op('B4', { certificateExpires: null }), 'filler', ['CERTIFICATE_MISSING']],
];
for (const [name, o, role, expected] of operatorRows) {
  test(`checkOperator: ${name}`, () => {
    const r = checkOperator(o, role, today);
    assert.equal(codes(r), [...expected].sort());
    expected.forEach((c) => seen.add(c));
  });
}

test('checkChecker: a different certified checker passes; the filler, even with another badge, does not', () => {
  assert.equal(checkChecker(filler, checker, today), []);
  const both = op('B1', { roles: ['filler', 'checker'] });
  assert.equal(codes(checkChecker(both, both, today)), ['CHECKER_IS_FILLER']);
  // A replacement card: other badge, same P certificate = same person.
  const secondCard = op('B1-2', { roles: ['filler', 'checker'], certificateNo: 'P-B1' });
  assert.equal(codes(checkChecker(both, secondCard, today)), ['CHECKER_IS_FILLER']);
  assert.equal(codes(checkChecker(filler, undefined, today)), ['OPERATOR_UNKNOWN']);
  assert.equal(codes(checkChecker(filler, op('B2', { roles: ['checker'], certificateExpires: '2026-01-01' }), today)), ['CERTIFICATE_EXPIRED']);
});

/**
 * Refusal codes that come from the post controller's own state, not from the data
 * eligibility is given (gateway/post). A new refusal code must either get a row above
 * or be listed here, so no eligibility rule goes untested.
 */
const controllerCodes: RefusalCode[] = ['VERIFY_TIMEOUT', 'PRE_FILL_CHECK_FAILED', 'POST_IN_FAULT', 'CYLINDER_SWAPPED', 'FILLER_AT_OTHER_POST', 'BADGE_TIMEOUT'];

test('every eligibility refusal code in reasons.ts is produced by some row, with zh and en messages', () => {
  const all = Object.keys(refusalReasons) as RefusalCode[];
  const missing = all.filter((c) => !seen.has(c) && !controllerCodes.includes(c));
  assert.equal(missing, [], `refusal codes no row produced (add a row, or list a controller-only code): ${missing.join(', ')}`);
  for (const c of seen) {
    const m = refusalReasons[c];
    assert.ok(m.zh.length > 0 && /[\u4e00-\u9fff]/.test(m.zh), `${c} has a Chinese message`);
    assert.ok(m.en.length > 0 && /^[\x20-\x7e]+$/.test(m.en), `${c} has an English message`);
    assert.is(reasonMessage(c, 'zh'), m.zh);
    assert.is(reasonMessage(c, 'en'), m.en);
  }
});

test.run();
