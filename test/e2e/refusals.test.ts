/**
 * Every eligibility refusal over the simulator's real transports (issue 3
 * points 2 and 8): the cylinder is put on the scale and scanned as an operator
 * would; the attempt's one record carries the reason code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from './rig.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import type { CylinderInput } from '../../gateway/registry/types.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)),
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
    },
  });
  // Each case scans a different code: a reader suppresses the same code read again within its dedup window.
  // A cylinder whose tare was never recorded (domain.md 2: a cylinder whose tare is unclear must not be filled).
  rig.station.registry.upsertCylinder({
    code: 'E2000017A1B20099', ownerUnit: 'HNGAS01', model: 'YSP12', allowedFillKg: 5, tareKg: null, medium: 'LPG',
    manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31',
  });
  // Issue 10 point 7: one cylinder per registry field the standards require, each breaking only that rule.
  for (const [code, over] of Object.entries(standardsCases)) rig.station.registry.upsertCylinder({ ...standardsBase(code), ...over });
});
test.after(async () => {
  await rig?.close();
});

/** A fillable YSP12 with every field the standards require (issue 10 point 7). */
const standardsBase = (code: string): CylinderInput => ({
  code, valveCode: `V-${code}`, ownerUnit: 'HNGAS01', model: 'YSP12', waterVolumeL: 12, allowedFillKg: 5, tareKg: 6.5, medium: 'LPG',
  manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31', valvePhase: 'gas', useRegistrationNo: `R-${code}`,
  maker: 'MK-DEMO', eId: `EID-${code}`, registeredOn: '2024-02-01', refillable: true, purgeRequired: false,
});
const fifty = { model: 'YSP118', waterVolumeL: 118, allowedFillKg: 49.5, tareKg: 45 } as const;
const standardsCases: Record<string, Partial<CylinderInput>> = {
  E2000017A1B20101: { ...fifty, valvePhase: 'dual' },
  E2000017A1B20102: { valvePhase: 'liquid' },
  E2000017A1B20103: { ...fifty, valvePhase: null },
  E2000017A1B20104: { useRegistrationNo: null },
  E2000017A1B20105: { maker: null },
  E2000017A1B20106: { eId: null },
  E2000017A1B20107: { valveCode: null },
  E2000017A1B20108: { refillable: false },
  E2000017A1B20109: { purgeRequired: undefined }, // first registration: a purge is due
};
const onScale = (code: string) => ({ place: code, adHoc: { tareKg: standardsCases[code]?.tareKg ?? 6.5, residualKg: 0.3 } });

const gross = (post: string) => rig.station.posts.get(post)!.snapshot.ctx.last?.grossKg ?? 0;

/** Place a cylinder, scan a code, optionally badge, optionally take it away; return the attempt's record. */
async function attempt(post: string, o: { place: string; adHoc?: { tareKg: number; residualKg: number }; scan?: string; badge?: string; removeAfterMs?: number }): Promise<FillAttempt> {
  const seen = rig.records.length;
  rig.sim.place(post, o.place, o.adHoc);
  await rig.until(`${post} shows the cylinder`, () => gross(post) > 1);
  rig.sim.scan(post, o.scan ?? o.place);
  if (o.badge) {
    await rig.until(`${post} verified`, () => rig.phase(post) === 'verified' || rig.records.length > seen);
    rig.sim.badge(post, o.badge);
  }
  if (o.removeAfterMs !== undefined) {
    await rig.until(`${post} verified`, () => rig.phase(post) === 'verified' || rig.records.length > seen);
    await new Promise((r) => setTimeout(r, o.removeAfterMs));
    rig.sim.remove(post);
  }
  const rec = await rig.until('the record', () => rig.records.slice(seen).find((r) => r.post === post));
  rig.sim.remove(post);
  await rig.until(`${post} empty`, () => gross(post) < 1 && ['idle', 'aborted', 'closedOut'].includes(rig.phase(post)));
  return rec;
}

const codes = (r: FillAttempt) => r.refusals.map((x) => x.code);

const cases: [string, Parameters<typeof attempt>[1], string][] = [
  ['unknown code (black cylinder)', { place: 'E20000FFFFFF0001', adHoc: { tareKg: 13.5, residualKg: 0.5 } }, 'UNKNOWN_CODE'],
  ["another unit's cylinder", { place: 'E2000017A1B20011' }, 'NOT_OWN_CYLINDER'],
  ['scrapped', { place: 'E2000017A1B20010' }, 'SCRAPPED'],
  ['quarantined', { place: 'E2000017A1B20013', adHoc: { tareKg: 6.4, residualKg: 0.3 } }, 'QUARANTINED'],
  ['inspection overdue', { place: 'E2000017A1B20008' }, 'INSPECTION_OVERDUE'],
  ['past design life', { place: 'E2000017A1B20009' }, 'PAST_DESIGN_LIFE'],
  ['DME cylinder at an LPG post', { place: 'E2000017A1B20012' }, 'MEDIUM_MISMATCH'],
  ['tare missing', { place: 'E2000017A1B20099', adHoc: { tareKg: 6.5, residualKg: 0.2 } }, 'TARE_MISSING'],
  ['pocket code: a YSP118 on the scale, a YSP26.2 code scanned', { place: 'E2000017A1B20006', scan: 'E2000017A1B20003' }, 'POCKET_CODE_WEIGHT'],
  ['no filler badged in before the cylinder was taken away', { place: 'E2000017A1B20004', removeAfterMs: 300 }, 'NO_OPERATOR'],
  ["filler's certificate expired", { place: 'E2000017A1B20005', badge: 'B1003', removeAfterMs: 500 }, 'CERTIFICATE_EXPIRED'],
  ['unknown badge', { place: 'E2000017A1B20007', badge: 'B7777', removeAfterMs: 500 }, 'OPERATOR_UNKNOWN'],
  ['dual-phase 50 kg cylinder (GB 5842-2023, seed 001)', onScale('E2000017A1B20101'), 'VALVE_PHASE_DUAL'],
  ['liquid-phase valve on a YSP12 (GB 5842-2023: 50 kg only)', onScale('E2000017A1B20102'), 'VALVE_PHASE_LIQUID_NOT_50KG'],
  ['50 kg cylinder with its valve phase unknown', onScale('E2000017A1B20103'), 'VALVE_PHASE_MISSING'],
  ['no use-registration number (seed 002 item 22)', onScale('E2000017A1B20104'), 'USE_REGISTRATION_MISSING'],
  ['maker not on record (GB 5842-2023 stamp)', onScale('E2000017A1B20105'), 'MAKER_MISSING'],
  ['made in 2024 without an e-ID (GB 5842-2023)', onScale('E2000017A1B20106'), 'E_ID_MISSING'],
  ['taken in after 2023-09-30 without a smart angle valve (seed 001)', onScale('E2000017A1B20107'), 'SMART_VALVE_REQUIRED'],
  ['non-refillable cylinder (seed 002 item 26)', onScale('E2000017A1B20108'), 'NON_REFILLABLE'],
  ['registered, never purged (TSG 23)', onScale('E2000017A1B20109'), 'PURGE_REQUIRED'],
];

for (const [name, o, code] of cases) {
  test(`refused: ${name} → ${code}`, async () => {
    const r = await attempt('P1', o);
    assert.is(r.outcome, 'refused');
    assert.ok(codes(r).includes(code as never), `expected ${code}, got ${codes(r).join(', ')}`);
    const sim = rig.sim.state().posts.find((p) => p.id === 'P1')!;
    assert.is(sim.valve.coil, false, 'the valve never opened');
  });
}

test("after the supervisor's recorded purge the same cylinder is verified (TSG 23)", async () => {
  // Another new cylinder (the reader drops the code just scanned within its dedup window).
  const code = 'E2000017A1B20110';
  assert.is(rig.station.registry.upsertCylinder(standardsBase(code)).cylinder.purgeRequired, false);
  rig.station.registry.upsertCylinder({ ...standardsBase(code), nextInspectionDue: '2030-01-31' }); // re-inspected: a purge is due
  assert.is(rig.station.registry.getCylinder(code)!.purgeRequired, true);
  rig.station.registry.recordPurge(code, 'B1009', 'vacuum');
  const seen = rig.records.length;
  rig.sim.place('P1', code, { tareKg: 6.5, residualKg: 0.3 });
  await rig.until('P1 loaded', () => gross('P1') > 1);
  rig.sim.scan('P1', code);
  await rig.until('P1 verified', () => rig.phase('P1') === 'verified' || rig.records.length > seen);
  assert.is(rig.phase('P1'), 'verified', JSON.stringify(rig.records.slice(seen).map(codes)));
  rig.sim.remove('P1');
  await rig.until('P1 attempt ends', () => rig.records.slice(seen).some((x) => x.post === 'P1'));
  await rig.until('P1 empty', () => gross('P1') < 1 && ['idle', 'aborted', 'closedOut'].includes(rig.phase('P1')));
});

test('a pre-fill check exception entered at the post refuses the fill and is recorded with its item', async () => {
  const seen = rig.records.length;
  rig.sim.place('P2', 'E2000017A1B20002');
  await rig.until('P2 loaded', () => gross('P2') > 1);
  rig.sim.scan('P2', 'E2000017A1B20002');
  await rig.until('P2 verified', () => rig.phase('P2') === 'verified');
  rig.station.posts.get('P2')!.setPreFillExceptions([{ item: 'valve', note: 'thread damaged' }]);
  rig.sim.badge('P2', 'B1002');
  const rec = await rig.until('record', () => rig.records.slice(seen).find((r) => r.post === 'P2'));
  assert.ok(codes(rec).includes('PRE_FILL_CHECK_FAILED'), codes(rec).join(', '));
  const item = rec.preFillCheck?.items.find((i) => i.item === 'valve');
  assert.equal([item?.ok, item?.note, rec.preFillCheck?.by.badge], [false, 'thread damaged', 'B1002']);
  rig.sim.remove('P2');
  await rig.until('P2 empty', () => gross('P2') < 1);
});

test('the same code cannot be active at two posts', async () => {
  const seen = rig.records.length;
  rig.sim.place('P1', 'E2000017A1B20004');
  await rig.until('P1 loaded', () => gross('P1') > 1);
  rig.sim.scan('P1', 'E2000017A1B20004');
  await rig.until('P1 verified', () => rig.phase('P1') === 'verified');
  const r = await attempt('P2', { place: 'E2000017A1B20005', scan: 'E2000017A1B20004' });
  assert.ok(codes(r).includes('POCKET_CODE_OTHER_POST'), codes(r).join(', '));
  rig.sim.remove('P1');
  await rig.until('P1 attempt ends', () => rig.records.slice(seen).some((x) => x.post === 'P1'));
});

test('the checker may not be the filler; a code filled minutes ago is refused', async () => {
  const code = 'E2000017A1B20001';
  const seen = rig.records.length;
  const displays = () => rig.events.filter((e) => e.kind === 'display' && e.reason === 'CHECKER_IS_FILLER').length;
  const before = displays();
  rig.sim.place('P1', code);
  await rig.until('P1 loaded', () => gross('P1') > 1);
  rig.sim.scan('P1', code);
  await rig.until('P1 verified', () => rig.phase('P1') === 'verified');
  rig.sim.badge('P1', 'B1001');
  await rig.until('checked', () => rig.phase('P1') === 'checked', 30_000);
  rig.sim.toCheck('P1');
  rig.sim.badge('P1', 'B1001'); // the filler tries to sign the post-fill check
  await rig.until('CHECKER_IS_FILLER shown', () => displays() > before);
  assert.is(rig.phase('P1'), 'checked', 'the check waits for a different person');
  rig.sim.badge('P1', 'B1002');
  await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
  rig.sim.removeCheck();
  const rec = await rig.until('record', () => rig.records.slice(seen).find((r) => r.cylinderCode === code));
  assert.is(rec.checker?.badge, 'B1002');
  assert.is(rec.filler?.badge, 'B1001');
  const again = await attempt('P2', { place: code });
  assert.ok(codes(again).includes('REFILLED_TOO_SOON'), codes(again).join(', '));
});

test.run();
