import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from '../../gateway/sqlite.ts';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../../protocols/clock.ts';
import { openRegistry, type Registry } from '../../gateway/registry/registry.ts';
import { formatIssue, type ImportIssue, type ImportReport } from '../../gateway/registry/import.ts';
import { parseCsv } from '../../gateway/registry/csv.ts';
import { parseCylinders } from '../../gateway/registry/validate.ts';

const HEADER = 'code,valveCode,ownerUnit,model,waterVolumeL,allowedFillKg,tareKg,medium,manufacturedOn,designLifeYears,nextInspectionDue,status';
const good = (code: string, extra: Partial<Record<string, string>> = {}) => {
  const f = { code, valveCode: `V-${code}`, ownerUnit: 'U1', model: 'YSP35.5', waterVolumeL: '35.5', allowedFillKg: '14.9', tareKg: '16.5', medium: 'LPG', manufacturedOn: '2024-01', designLifeYears: '8', nextInspectionDue: '2028-01-31', status: 'active', ...extra };
  return HEADER.split(',').map((k) => f[k as keyof typeof f] ?? '').join(',');
};
const csv = (...rows: string[]) => [HEADER, ...rows].join('\n');

let db: Database.Database;
let reg: Registry;
const open = () => {
  db = new Database(':memory:');
  reg = openRegistry(db, { clock: new ManualClock(0, Date.parse('2026-06-15T02:00:00Z')) });
};
const close = () => db.close();
const snapshot = () => ({
  cylinders: db.prepare('SELECT * FROM cylinders ORDER BY code').all(),
  operators: db.prepare('SELECT * FROM operators ORDER BY badge').all(),
  events: (db.prepare('SELECT COUNT(*) AS n FROM registry_events').get() as { n: number }).n,
});
const issuesOf = (r: ImportReport, row: number) => r.issues.filter((i) => i.row === row);
const errorFields = (r: ImportReport, row: number) => issuesOf(r, row).filter((i) => i.severity === 'error').map((i) => i.field);

test('CSV parser: BOM, CRLF, quoted commas, "" escapes, line breaks inside quotes, blank lines', () => {
  const text = '\ufeffa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2,"multi\nline",  z  \r\n3,,\n';
  const r = parseCsv(text);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.records.map((x) => x.fields), [['a', 'b', 'c'], ['1', 'x, y', 'say "hi"'], ['2', 'multi\nline', 'z'], ['3', '', '']]);
  assert.equal(r.records.map((x) => x.line), [1, 2, 4, 6]);
  const bad = parseCsv('a,b\n1,"open\n2,3\n');
  assert.equal(bad.ok ? null : bad.error, 'a quoted field is never closed');
  assert.not.ok(parseCsv('a\n"x"y\n').ok);
});

test('a good CSV file is applied: counts, stored values, a month date becomes its first day', () => {
  open();
  const r = reg.importCylinders(csv(good('C1'), good('C2', { model: 'ysp 4.7', waterVolumeL: '', allowedFillKg: '2', tareKg: '3.4' })), 'csv');
  assert.is(r.applied, true);
  assert.equal([r.total, r.valid, r.rejected, r.created, r.updated, r.errors], [2, 2, 0, 2, 0, 0]);
  const c2 = reg.getCylinder('C2')!;
  assert.equal([c2.model, c2.allowedFillKg, c2.waterVolumeL, c2.manufacturedOn], ['YSP4.7', 2, null, '2024-01-01']);
  // Importing the same file again changes nothing.
  const again = reg.importCylinders(csv(good('C1'), good('C2', { model: 'ysp 4.7', waterVolumeL: '', allowedFillKg: '2', tareKg: '3.4' })), 'csv');
  assert.equal([again.created, again.updated, again.unchanged], [0, 0, 2]);
  close();
});

const badFile = () =>
  csv(
    good('C1'), // row 1 fine
    good('C2', { tareKg: '' }), // row 2 missing tare
    good('C3', { manufacturedOn: '2023-02-30' }), // row 3 bad date
    good('C4', { model: 'YSP50' }), // row 4 unknown model
    good('C5', { medium: 'CNG' }), // row 5 medium
    good('C6', { allowedFillKg: '15.5' }), // row 6 above 35.5 L × 0.42
    good('C1', { valveCode: 'V-other' }), // row 7 duplicate code
    good('C8', { tareKg: '165' }), // row 8 implausible tare (a typo)
    good('C9', { tareKg: '16,5' }) + ',', // row 9 "16,5" splits into two fields: too many
    good('C10', { tareKg: '19.9' }), // row 10 a warning only (tare 20 % off typical)
    good('C11', { nextInspectionDue: '2025-12-31' }), // row 11 overdue: a warning
    good('C12', { valveCode: 'V-C1' }), // row 12 duplicate valve code
  );

test('bad rows: every row with its row number, line, field and why', () => {
  open();
  const r = reg.importCylinders(badFile(), 'csv');
  assert.is(r.applied, false);
  assert.equal([r.total, r.valid, r.rejected], [12, 3, 9]);
  assert.equal(errorFields(r, 1), []);
  assert.equal(errorFields(r, 2), ['tareKg']);
  assert.match(issuesOf(r, 2)[0].message, /tare \(kg\) missing/);
  assert.equal(issuesOf(r, 2)[0].line, 3);
  assert.is(issuesOf(r, 2)[0].key, 'C2');
  assert.equal(errorFields(r, 3), ['manufacturedOn']);
  assert.match(issuesOf(r, 3)[0].message, /2023-02-30.*not a date/);
  assert.equal(errorFields(r, 4), ['model']);
  assert.match(issuesOf(r, 4)[0].message, /unknown model "YSP50"/);
  assert.equal(errorFields(r, 5), ['medium']);
  assert.match(issuesOf(r, 5)[0].message, /LPG, DME/);
  assert.equal(errorFields(r, 6), ['allowedFillKg']);
  assert.match(issuesOf(r, 6)[0].message, /15\.5 kg is above YSP35\.5's 35\.5 L × 0\.42 kg\/L = 14\.9 kg/);
  assert.equal(errorFields(r, 7), ['code']);
  assert.match(issuesOf(r, 7)[0].message, /duplicate cylinder code C1 \(first on row 1\)/);
  assert.equal(errorFields(r, 8), ['tareKg']);
  assert.match(issuesOf(r, 8)[0].message, /implausible/);
  assert.equal(errorFields(r, 9), [undefined]);
  assert.match(issuesOf(r, 9)[0].message, /more fields than the header/);
  assert.equal(errorFields(r, 10), []);
  assert.equal(issuesOf(r, 10).map((i) => [i.severity, i.field]), [['warning', 'tareKg']]);
  assert.equal(issuesOf(r, 11).map((i) => [i.severity, i.field]), [['warning', 'nextInspectionDue']]);
  assert.equal(errorFields(r, 12), ['valveCode']);
  assert.match(formatIssue(issuesOf(r, 2)[0]), /^row 2 \(line 3\) C2 tareKg: error: /);
  close();
});

test('atomicity: a file with one bad row leaves the database exactly as it was', () => {
  open();
  reg.importCylinders(csv(good('C1', { tareKg: '16.0' }), good('C10')), 'csv');
  const before = snapshot();
  const r = reg.importCylinders(badFile(), 'csv'); // would update C1 and C10 and create C11
  assert.is(r.applied, false);
  assert.ok(r.updated + r.created > 0, 'the report says what would have been written');
  assert.equal(snapshot(), before);
  close();
});

test("mode 'valid-rows': valid rows are written, rejected rows are not, counts add up", () => {
  open();
  const r = reg.importCylinders(badFile(), 'csv', { mode: 'valid-rows', source: 'import:test.csv' });
  assert.is(r.applied, true);
  assert.equal([r.valid, r.rejected, r.created], [3, 9, 3]);
  assert.equal(reg.listCylinders().map((c) => c.code), ['C1', 'C10', 'C11']);
  const ev = reg.events({ kind: 'cylinders.imported' })[0];
  assert.equal([ev.source, ev.data?.created], ['import:test.csv', 3]);
  close();
});

test('dry run reports what would happen and writes nothing', () => {
  open();
  const before = snapshot();
  const r = reg.importCylinders(csv(good('C1'), good('C2')), 'csv', { dryRun: true });
  assert.equal([r.applied, r.created, r.errors], [false, 2, 0]);
  assert.equal(snapshot(), before);
  close();
});

test('file-level errors: missing column, bad JSON, not an array; nothing applied in any mode', () => {
  open();
  const noTare = reg.importCylinders(['code,ownerUnit,model,allowedFillKg,medium,manufacturedOn,designLifeYears,nextInspectionDue', 'C1,U1,YSP12,5,LPG,2024-01,8,2028-01-31'].join('\n'), 'csv', { mode: 'valid-rows' });
  assert.is(noTare.applied, false);
  assert.equal(noTare.issues.map((i) => [i.row, i.severity]), [[0, 'error']]);
  assert.match(noTare.issues[0].message, /required columns missing: tareKg/);
  const badJson = reg.importCylinders('[{"code": "C1",', 'json');
  assert.equal([badJson.applied, badJson.issues[0].row], [false, 0]);
  assert.match(badJson.issues[0].message, /^JSON: /);
  assert.match(reg.importCylinders('{"x": 1}', 'json').issues[0].message, /expected an array/);
  assert.match(reg.importCylinders('', 'csv').issues[0].message, /empty/);
  assert.equal(reg.listCylinders(), []);
  close();
});

test('JSON: an array or {cylinders: [...]}, numbers as numbers, non-objects rejected by row', () => {
  open();
  const row = { code: 'C1', valveCode: 'V1', ownerUnit: 'U1', model: 'YSP118-II', allowedFillKg: 49.5, tareKg: 45, medium: 'lpg', manufacturedOn: '2024-03-01', designLifeYears: 8, nextInspectionDue: '2028-03-31', note: 'x' };
  const r = reg.importCylinders(JSON.stringify({ cylinders: [row, 'oops', { ...row, code: 'C2', valveCode: 'V2', allowedFillKg: 50 }] }), 'json', { mode: 'valid-rows' });
  assert.equal([r.total, r.created, r.rejected], [3, 1, 2]);
  assert.match(issuesOf(r, 2)[0].message, /not an object/);
  assert.equal(errorFields(r, 3), ['allowedFillKg']);
  assert.ok(r.issues.some((i) => i.row === 0 && i.severity === 'warning' && /note/.test(i.message)));
  assert.is(reg.getCylinder('C1')?.medium, 'LPG');
  const plain = reg.importCylinders(JSON.stringify([{ ...row, code: 4711, valveCode: 'V3' }]), 'json');
  assert.equal([plain.created, plain.errors], [1, 0]);
  assert.ok(reg.getCylinder('4711'));
  close();
});

test('database rules: a scrapped code is never reused; a valve code bound elsewhere is refused', () => {
  open();
  reg.importCylinders(csv(good('C1', { status: 'scrapped' }), good('C2', { valveCode: 'V7' })), 'csv');
  const r = reg.importCylinders(csv(good('C1'), good('C3', { valveCode: 'V7' })), 'csv');
  assert.is(r.applied, false);
  assert.equal(errorFields(r, 1), ['status']);
  assert.match(issuesOf(r, 1)[0].message, /never reused/);
  assert.equal(errorFields(r, 2), ['valveCode']);
  assert.match(issuesOf(r, 2)[0].message, /bound to cylinder C2/);
  // A valve moved from C2 to C3 in the same file is fine.
  const moved = reg.importCylinders(csv(good('C2', { valveCode: 'V8' }), good('C3', { valveCode: 'V7' })), 'csv');
  assert.equal([moved.applied, moved.errors], [true, 0]);
  assert.is(reg.getCylinder('C1')?.status, 'scrapped');
  close();
});

test('operators: roles parsed, unknown role and duplicate badge rejected, certificate problems warned', () => {
  open();
  const text = [
    'Badge,Name,Roles,Certificate_No,Certificate_Expires',
    'B1,张伟,filler;checker,P-1,2028-06-30',
    'B2,李娜,filler|checker,P-2,2026/1/31',
    'B3,王强,filler,,',
    'B4,Bad,filler;driver,P-4,2028-01-01',
    'B1,Again,checker,P-9,2028-01-01',
    'S1,Sup,supervisor,,',
  ].join('\r\n');
  const r = reg.importOperators(text, 'csv', { mode: 'valid-rows' });
  assert.equal([r.total, r.valid, r.rejected, r.created], [6, 4, 2, 4]);
  assert.equal(issuesOf(r, 2).map((i) => [i.severity, i.field]), [['warning', 'certificateExpires']]);
  assert.equal(issuesOf(r, 3).map((i) => [i.severity, i.field]), [['warning', 'certificateNo']]);
  assert.match(issuesOf(r, 4)[0].message, /unknown roles: driver/);
  assert.match(issuesOf(r, 5)[0].message, /duplicate badge B1/);
  assert.equal(issuesOf(r, 6), []);
  assert.equal(reg.getOperator('B2')?.roles, ['filler', 'checker']);
  assert.is(reg.getOperator('B2')?.certificateExpires, '2026-01-31');
  const json = reg.importOperators(JSON.stringify({ operators: [{ badge: 'B5', name: 'Zhao', roles: ['Checker', 'filler'], certificateNo: 'P-5', certificateExpires: '2028-01-01' }] }), 'json');
  assert.equal([json.applied, json.created, json.errors, json.warnings], [true, 1, 0, 0]);
  assert.equal(reg.getOperator('B5')?.roles, ['checker', 'filler']);
  close();
});

test('the example files import cleanly and cover the demo cases', () => {
  open();
  const root = new URL('../../examples/', import.meta.url);
  const c = reg.importCylinders(readFileSync(new URL('cylinders.csv', root), 'utf8'), 'csv', { today: '2026-06-15' });
  const o = reg.importOperators(readFileSync(new URL('operators.csv', root), 'utf8'), 'csv', { today: '2026-06-15' });
  assert.equal([c.applied, c.errors, o.applied, o.errors], [true, 0, true, 0]);
  assert.ok(c.total >= 10);
  const all = reg.listCylinders();
  assert.equal(new Set(all.map((x) => x.model)).size, 6, 'every GB 5842 model');
  assert.ok(all.some((x) => x.status === 'scrapped'));
  assert.ok(all.some((x) => x.medium === 'DME'));
  assert.ok(all.some((x) => x.ownerUnit !== 'HNGAS01'));
  assert.ok(all.some((x) => x.status === 'active' && x.nextInspectionDue! < '2026-06-15'));
  const ops = reg.listOperators();
  assert.is(ops.length, 4);
  assert.is(ops.filter((x) => x.certificateExpires! >= '2026-06-15' && x.roles.includes('filler') && x.roles.includes('checker')).length, 2);
  assert.is(ops.filter((x) => x.roles.includes('supervisor')).length, 1, 'a supervisor resets faulted posts');
  assert.is(ops.filter((x) => x.certificateExpires! < '2026-06-15').length, 1);
  close();
});

test('validation is pure: parseCylinders needs no database', () => {
  const p = parseCylinders(csv(good('C1'), good('C2', { tareKg: 'x' })), 'csv', { today: '2026-06-15' });
  assert.equal([p.total, p.valid.length], [2, 1]);
  // An older file without the standards' columns: one summary warning per field the post will refuse without.
  assert.equal(p.issues.map((i: ImportIssue) => [i.row, i.field, i.severity]), [[2, 'tareKg', 'error'], [0, 'useRegistrationNo', 'warning'], [0, 'maker', 'warning']]);
});

// Issue 10 point 7: the fields the standards require.
const STD = 'valvePhase,useRegistrationNo,maker,eId,registeredOn,lastInspectedOn,refillable,purgeRequired';
const stdCsv = (...rows: [string, Partial<Record<string, string>>, string][]) =>
  [`${HEADER},${STD}`, ...rows.map(([code, extra, std]) => `${good(code, extra)},${std}`)].join('\n');

test('standards fields: a bad value is reported with its row and column', () => {
  open();
  const r = reg.importCylinders(
    stdCsv(
      ['C1', {}, 'gas,R1,M1,E1,2024-02-01,,true,false'], // row 1 fine
      ['C2', {}, 'triple,R2,M1,E2,,,true,false'], // row 2: unknown phase
      ['C3', {}, 'liquid,R3,M1,E3,,,true,false'], // row 3: liquid phase on a 15 kg cylinder (GB 5842-2023: 50 kg only)
      ['C4', {}, 'gas,R4,M1,E4,2026-13-01,,maybe,false'], // row 4: bad date, bad boolean
      ['C5', {}, 'gas,R5,M1,E1,,,true,no'], // row 5: e-ID of row 1
      ['C6', {}, 'gas,R6,M1,E6,,2027-01-01,true,no'], // row 6: inspected in the future
    ),
    'csv',
    { mode: 'valid-rows' },
  );
  assert.equal(errorFields(r, 1), []);
  assert.equal(errorFields(r, 2), ['valvePhase']);
  assert.equal(errorFields(r, 3), ['valvePhase']);
  assert.match(issuesOf(r, 3)[0].message, /50 kg/);
  assert.equal(errorFields(r, 4).sort(), ['refillable', 'registeredOn']);
  assert.equal(errorFields(r, 5), ['eId']);
  assert.equal(errorFields(r, 6), ['lastInspectedOn']);
  assert.match(formatIssue(issuesOf(r, 2)[0]), /^row 2 \(line 3\) C2 valvePhase: error: valvePhase "triple" must be one of gas, liquid, dual/);
  assert.equal([r.created, r.rejected], [1, 5]);
  close();
});

test('standards fields: stored as read; Chinese phase names; JSON booleans; dual phase and non-refillable warn', () => {
  open();
  const r = reg.importCylinders(
    stdCsv(['C1', {}, '气相,R1,M1,E1,2024-02-01,2025-03-01,是,否'], ['C2', { model: 'YSP118', waterVolumeL: '118', allowedFillKg: '49.5', tareKg: '45' }, '气液双相,R2,M1,E2,,,true,'], ['C3', {}, ',R3,M1,E3,,,false,']),
    'csv',
  );
  assert.is(r.applied, true);
  const c1 = reg.getCylinder('C1')!;
  assert.equal([c1.valvePhase, c1.useRegistrationNo, c1.maker, c1.eId, c1.registeredOn, c1.lastInspectedOn, c1.refillable, c1.purgeRequired], ['gas', 'R1', 'M1', 'E1', '2024-02-01', '2025-03-01', true, false]);
  assert.equal(issuesOf(r, 2).map((i) => [i.field, i.severity]), [['valvePhase', 'warning']]);
  assert.equal(issuesOf(r, 3).map((i) => [i.field, i.severity]), [['refillable', 'warning']]);
  // No purgeRequired given: a first registration needs a purge (TSG 23).
  assert.equal([reg.getCylinder('C2')!.purgeRequired, reg.getCylinder('C3')!.refillable], [true, false]);
  const j = reg.importCylinders(JSON.stringify([{ code: 'C9', ownerUnit: 'U1', model: 'YSP118-II', allowedFillKg: 49.5, tareKg: 45, medium: 'LPG', manufacturedOn: '2024-03-01', designLifeYears: 8, nextInspectionDue: '2028-03-31', valvePhase: 'liquid', refillable: true, purgeRequired: false, eId: 'E9', useRegistrationNo: 'R9', maker: 'M' }]), 'json');
  assert.is(j.errors, 0);
  assert.equal([reg.getCylinder('C9')!.valvePhase, reg.getCylinder('C9')!.purgeRequired], ['liquid', false]);
  close();
});

test('standards fields: an e-ID held by another cylinder in the registry is refused on its row', () => {
  open();
  reg.importCylinders(stdCsv(['C1', {}, 'gas,R1,M1,E1,,,true,false']), 'csv');
  const r = reg.importCylinders(stdCsv(['C2', {}, 'gas,R2,M1,E1,,,true,false']), 'csv');
  assert.is(r.applied, false);
  assert.equal(errorFields(r, 1), ['eId']);
  assert.match(issuesOf(r, 1)[0].message, /belongs to cylinder C1/);
  close();
});

test.run();
