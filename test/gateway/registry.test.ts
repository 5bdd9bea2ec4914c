import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from '../../gateway/sqlite.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../protocols/clock.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { openRegistry, Registry } from '../../gateway/registry/registry.ts';
import { migrations } from '../../gateway/registry/schema.ts';
import { addYears, parseDate } from '../../gateway/registry/dates.ts';
import type { CylinderInput } from '../../gateway/registry/types.ts';

const input = (code: string, over: Partial<CylinderInput> = {}): CylinderInput => ({
  code, valveCode: `V-${code}`, ownerUnit: 'U1', model: 'YSP35.5', waterVolumeL: 35.5, allowedFillKg: 14.9, tareKg: 16.5,
  medium: 'LPG', manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31', status: 'active', ...over,
});

function fresh(): { db: Database.Database; reg: Registry; clock: ManualClock } {
  const db = new Database(':memory:');
  const clock = new ManualClock(0, Date.parse('2026-06-15T02:00:00Z'));
  return { db, reg: openRegistry(db, { clock }), clock };
}

const throwsCode = (fn: () => unknown, code: string): Error => {
  try {
    fn();
  } catch (err) {
    assert.ok(isFillgateError(err), `expected a FillgateError, got ${String(err)}`);
    assert.is((err as { code: string }).code, code);
    return err as Error;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
};

test('a file database: WAL, synchronous=FULL, migrations applied once, data survives reopening', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-registry-'));
  try {
    const file = join(dir, 'registry.db');
    let db = new Database(file);
    let reg = openRegistry(db);
    assert.is(reg.schemaVersion, 3);
    assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(db.pragma('synchronous', { simple: true }), 2); // 2 = FULL
    reg.upsertCylinder(input('C1'));
    db.close();
    db = new Database(file);
    reg = openRegistry(db);
    assert.is(reg.schemaVersion, 3);
    assert.is((db.prepare('SELECT COUNT(*) AS n FROM registry_migrations').get() as { n: number }).n, 3);
    assert.is(reg.getCylinder('C1')?.tareKg, 16.5);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a station.db of schema 1 is migrated: its cylinders keep their data, are refillable, need no purge, the new fields are unknown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-registry-'));
  try {
    const file = join(dir, 'station.db');
    const db = new Database(file);
    db.exec('CREATE TABLE registry_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    db.exec(migrations[0]);
    db.prepare('INSERT INTO registry_migrations VALUES (1, ?)').run('2025-01-01');
    db.prepare(
      `INSERT INTO cylinders (code, valve_code, owner_unit, model, allowed_fill_kg, tare_kg, medium, manufactured_on, design_life_years, next_inspection_due, updated_at)
       VALUES ('OLD1', 'V1', 'U1', 'YSP35.5', 14.9, 16.5, 'LPG', '2022-01-01', 8, '2026-01-31', 'x')`,
    ).run();
    const reg = openRegistry(db);
    assert.is(reg.schemaVersion, 3);
    const c = reg.getCylinder('OLD1')!;
    assert.equal([c.tareKg, c.valveCode, c.valvePhase, c.useRegistrationNo, c.maker, c.eId, c.registeredOn, c.lastInspectedOn, c.refillable, c.purgeRequired], [16.5, 'V1', null, null, null, null, null, null, true, false]);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('purge (TSG 23): required at first registration and after an inspection; only a supervisor\'s recorded purge clears it', () => {
  const { db, reg } = fresh();
  assert.is(reg.upsertCylinder(input('C1')).cylinder.purgeRequired, true, 'first registration');
  assert.is(reg.upsertCylinder(input('C2', { purgeRequired: false })).cylinder.purgeRequired, false, 'stock already in service');
  reg.upsertOperator({ badge: 'B1', name: 'Filler', roles: ['filler'] });
  reg.upsertOperator({ badge: 'S1', name: 'Supervisor', roles: ['supervisor'] });
  throwsCode(() => reg.recordPurge('C1', 'B1'), 'CONFLICT');
  throwsCode(() => reg.recordPurge('C1', 'S9'), 'CONFLICT');
  throwsCode(() => reg.recordPurge('NOPE', 'S1'), 'NOT_FOUND');
  assert.is(reg.getCylinder('C1')!.purgeRequired, true);
  assert.is(reg.recordPurge('C1', 'S1', 'vacuum', 'vacuum pump 2').purgeRequired, false);
  const ev = reg.events({ subject: 'C1', kind: 'cylinder.purged' })[0];
  assert.equal([ev.source, ev.reason, ev.data?.method, ev.data?.by], ['S1', 'vacuum pump 2', 'vacuum', 'S1']);
  // An import saying "false" does not clear a pending purge; an unchanged re-import keeps the flag off.
  assert.is(reg.upsertCylinder(input('C1')).change, 'unchanged');
  // Re-inspected: the next inspection moves on (or a later last inspection): a purge is required again.
  assert.is(reg.upsertCylinder(input('C1', { nextInspectionDue: '2032-01-31' })).cylinder.purgeRequired, true);
  assert.is(reg.upsertCylinder(input('C1', { nextInspectionDue: '2032-01-31', purgeRequired: false })).cylinder.purgeRequired, true);
  assert.is(reg.upsertCylinder(input('C2', { lastInspectedOn: '2026-06-01' })).cylinder.purgeRequired, true);
  db.close();
});

test('a database from a newer gateway is refused, not modified', () => {
  const db = new Database(':memory:');
  openRegistry(db);
  db.prepare('INSERT INTO registry_migrations (version, applied_at) VALUES (99, ?)').run('x');
  throwsCode(() => openRegistry(db), 'STORE_ERROR');
  db.close();
});

test('upsert: created, unchanged, updated, each change logged with what changed', () => {
  const { db, reg } = fresh();
  assert.is(reg.upsertCylinder(input('C1'), 'test').change, 'created');
  assert.is(reg.upsertCylinder(input('C1'), 'test').change, 'unchanged');
  const r = reg.upsertCylinder(input('C1', { tareKg: 16.7 }), 'test');
  assert.is(r.change, 'updated');
  assert.is(r.cylinder.tareKg, 16.7);
  const ev = reg.events({ subject: 'C1' });
  assert.equal(ev.map((e) => e.kind), ['cylinder.updated', 'cylinder.created']);
  assert.equal(ev[0].data, { tareKg: [16.5, 16.7] });
  assert.is(ev[0].source, 'test');
  assert.is(Date.parse(ev[0].at), Date.parse('2026-06-15T02:00:00Z')); // labelled by the injected clock
  assert.match(ev[0].at, /[+-]\d\d:\d\d$/); // ISO 8601 with offset
  db.close();
});

test('quarantine, release and scrap: status, reason and source logged; a scrapped code is never reused', () => {
  const { db, reg } = fresh();
  reg.upsertCylinder(input('C1'));
  assert.is(reg.quarantine('C1', 'weight did not match tare', 'controller:P1').status, 'quarantined');
  const q = reg.events({ subject: 'C1', kind: 'cylinder.quarantined' })[0];
  assert.is(q.reason, 'weight did not match tare');
  assert.is(q.source, 'controller:P1');
  assert.is(reg.release('C1', 'checked by supervisor', 'B9').status, 'active');
  assert.is(reg.scrap('C1', 'failed inspection', 'B9').status, 'scrapped');
  throwsCode(() => reg.quarantine('C1', 'x', 'y'), 'CONFLICT');
  throwsCode(() => reg.release('C1', 'x', 'y'), 'CONFLICT');
  const err = throwsCode(() => reg.upsertCylinder(input('C1', { status: 'active' })), 'CONFLICT');
  assert.match(err.message, /never reused/);
  assert.is(reg.getCylinder('C1')?.status, 'scrapped');
  throwsCode(() => reg.quarantine('NOPE', 'x', 'y'), 'NOT_FOUND');
  db.close();
});

test('a valve code is bound to one cylinder', () => {
  const { db, reg } = fresh();
  reg.upsertCylinder(input('C1', { valveCode: 'V1' }));
  throwsCode(() => reg.upsertCylinder(input('C2', { valveCode: 'V1' })), 'CONFLICT');
  assert.is(reg.getCylinder('C2'), undefined);
  assert.is(reg.getCylinderByValveCode('V1')?.code, 'C1');
  db.close();
});

test('recordFill counts fills and keeps the last fill time; upserts never touch them', () => {
  const { db, reg, clock } = fresh();
  reg.upsertCylinder(input('C1'));
  reg.recordFill('C1', clock.wall());
  const c = reg.recordFill('C1', '2026-06-15T10:30:00.000+08:00');
  assert.is(c.fillCount, 2);
  assert.is(c.lastFillAt, '2026-06-15T10:30:00.000+08:00');
  reg.upsertCylinder(input('C1', { tareKg: 16.6 }));
  assert.is(reg.getCylinder('C1')?.fillCount, 2);
  throwsCode(() => reg.recordFill('NOPE', 0), 'NOT_FOUND');
  throwsCode(() => reg.recordFill('C1', 'yesterday'), 'BAD_PAYLOAD');
  db.close();
});

test('list and search cylinders; counts by status', () => {
  const { db, reg } = fresh();
  reg.upsertCylinder(input('E200A1', { nextInspectionDue: '2025-01-31' }));
  reg.upsertCylinder(input('E200A2', { medium: 'DME', ownerUnit: 'U2' }));
  reg.upsertCylinder(input('F300B1', { model: 'YSP12', status: 'quarantined' }));
  assert.equal(reg.listCylinders().map((c) => c.code), ['E200A1', 'E200A2', 'F300B1']);
  assert.equal(reg.listCylinders({ search: 'E200' }).map((c) => c.code), ['E200A1', 'E200A2']);
  assert.equal(reg.listCylinders({ search: 'V-F3' }).map((c) => c.code), ['F300B1']);
  assert.equal(reg.listCylinders({ medium: 'DME' }).map((c) => c.code), ['E200A2']);
  assert.equal(reg.listCylinders({ ownerUnit: 'U1', status: 'active' }).map((c) => c.code), ['E200A1']);
  assert.equal(reg.listCylinders({ inspectionDueBefore: '2026-06-15' }).map((c) => c.code), ['E200A1']);
  assert.equal(reg.listCylinders({ limit: 1, offset: 1 }).map((c) => c.code), ['E200A2']);
  assert.equal(reg.countCylinders(), { active: 2, quarantined: 1, scrapped: 0 });
  db.close();
});

test('operators: upsert, roles kept as a list, search by role and text', () => {
  const { db, reg } = fresh();
  reg.upsertOperator({ badge: 'B1', name: '张伟', roles: ['filler', 'checker', 'filler'], certificateNo: 'P-1', certificateExpires: '2028-01-01' });
  reg.upsertOperator({ badge: 'S1', name: 'Supervisor', roles: ['supervisor'] });
  assert.equal(reg.getOperator('B1')?.roles, ['filler', 'checker']);
  assert.is(reg.getOperator('S1')?.certificateNo, null);
  assert.equal(reg.listOperators({ role: 'supervisor' }).map((o) => o.badge), ['S1']);
  assert.equal(reg.listOperators({ search: '张' }).map((o) => o.badge), ['B1']);
  assert.is(reg.upsertOperator({ badge: 'B1', name: '张伟', roles: ['filler', 'checker'], certificateNo: 'P-1', certificateExpires: '2028-01-01' }).change, 'unchanged');
  const r = reg.upsertOperator({ badge: 'B1', name: '张伟', roles: ['filler'], certificateNo: 'P-1', certificateExpires: '2028-01-01' });
  assert.is(r.change, 'updated');
  assert.equal(reg.events({ subject: 'B1' })[0].data, { roles: [['filler', 'checker'], ['filler']] });
  db.close();
});

test('dates: spreadsheet forms, months, real calendar days only; design life end', () => {
  assert.is(parseDate('2026/3/5'), '2026-03-05');
  assert.is(parseDate('2026-02-29'), undefined);
  assert.is(parseDate('2024-02-29'), '2024-02-29');
  assert.is(parseDate('2024-13-01'), undefined);
  assert.is(parseDate('2024-05'), undefined);
  assert.is(parseDate('2024-05', true), '2024-05-01');
  assert.is(addYears('2024-02-29', 1), '2025-02-28');
  assert.is(addYears('2024-02-29', 8), '2032-02-29');
  assert.is(addYears('2018-06-15', 8), '2026-06-15');
});

test('overfill hold: quarantined until a supervisor records the decant (mass, who, when); release alone refused', () => {
  const { reg } = fresh();
  reg.upsertCylinder(input('C1'));
  reg.upsertOperator({ badge: 'S1', name: 'Sup', roles: ['supervisor'] });
  reg.upsertOperator({ badge: 'F1', name: 'Fil', roles: ['filler'], certificateNo: 'P-1', certificateExpires: '2030-01-01' });
  const hold = reg.holdForDecant('C1', { attemptId: 'A1', overKg: 0.4, source: 'post:P1' })!;
  assert.is(reg.getCylinder('C1')!.status, 'quarantined');
  assert.equal([hold.attemptId, hold.overKg, hold.decantedAt], ['A1', 0.4, undefined]);
  assert.is(reg.holdForDecant('C1', { attemptId: 'A2', source: 'post:P2' })!.id, hold.id, 'one hold per cylinder');
  throwsCode(() => reg.release('C1', 'by hand', 'cli'), 'CONFLICT');
  throwsCode(() => reg.recordDecant('C1', { removedKg: 0.5, by: 'F1', source: 'cli' }), 'CONFLICT');
  throwsCode(() => reg.recordDecant('C1', { removedKg: 0, by: 'S1', source: 'cli' }), 'BAD_PAYLOAD');
  const d = reg.recordDecant('C1', { removedKg: 0.5, by: 'S1', note: 'decanted to the recovery tank', source: 'cli' });
  assert.equal([d.removedKg, d.decantedBy, typeof d.decantedAt], [0.5, 'S1', 'string']);
  assert.is(reg.getCylinder('C1')!.status, 'active');
  assert.is(reg.pendingDecant('C1'), undefined);
  assert.ok(reg.events({ subject: 'C1' }).some((e) => e.kind === 'cylinder.decanted'));
  throwsCode(() => reg.recordDecant('C1', { removedKg: 0.5, by: 'S1', source: 'cli' }), 'CONFLICT');
});

test.run();
