/**
 * The station's cylinder and operator registry, in SQLite (better-sqlite3) on a
 * database the gateway opens and passes in. WAL with synchronous=FULL: a
 * quarantine or a fill count must survive a power cut (engineering.md 1).
 * Every change of a cylinder or operator is logged in registry_events.
 */
import type { Database, Statement } from 'better-sqlite3';
import { FillgateError } from '../../protocols/errors.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import { isoWithOffset, localDate } from './dates.ts';
import { defaultImportLimits, type ImportLimits } from './models.ts';
import { migrate } from './schema.ts';
import { runCylinderImport, runOperatorImport, type ImportOptions, type ImportReport } from './import.ts';
import type { ImportFormat } from './records.ts';
import type { Cylinder, CylinderInput, CylinderStatus, Medium, Operator, OperatorInput, RegistryEvent, Role, ValvePhase } from './types.ts';

export interface RegistryOptions {
  /** Labels updated_at and events (wall clock); tests pass a ManualClock. */
  clock?: Clock;
  limits?: ImportLimits;
}

export interface CylinderFilter {
  status?: CylinderStatus;
  ownerUnit?: string;
  medium?: Medium;
  model?: string;
  /** Substring of the code or valve code. */
  search?: string;
  /** YYYY-MM-DD: only cylinders whose next inspection is before this date. */
  inspectionDueBefore?: string;
  limit?: number;
  offset?: number;
}

export interface OperatorFilter {
  role?: Role;
  /** Substring of the badge, name or certificate number. */
  search?: string;
  limit?: number;
}

export type Change = 'created' | 'updated' | 'unchanged';

/** An overfill hold and, once recorded, its decant (issue 10 point 3). */
export interface Decant {
  id: number;
  code: string;
  attemptId?: string;
  heldAt: string;
  overKg?: number;
  decantedAt?: string;
  removedKg?: number;
  decantedBy?: string;
  note?: string;
}

interface DecantRow {
  id: number; code: string; attempt_id: string | null; held_at: string; over_kg: number | null;
  decanted_at: string | null; removed_kg: number | null; decanted_by: string | null; note: string | null;
}

const toDecant = (r: DecantRow): Decant => ({
  id: r.id, code: r.code, heldAt: r.held_at,
  ...(r.attempt_id ? { attemptId: r.attempt_id } : {}), ...(r.over_kg !== null ? { overKg: r.over_kg } : {}),
  ...(r.decanted_at ? { decantedAt: r.decanted_at } : {}), ...(r.removed_kg !== null ? { removedKg: r.removed_kg } : {}),
  ...(r.decanted_by ? { decantedBy: r.decanted_by } : {}), ...(r.note ? { note: r.note } : {}),
});

interface CylinderRow {
  code: string; valve_code: string | null; owner_unit: string; model: string; water_volume_l: number | null;
  allowed_fill_kg: number | null; tare_kg: number | null; medium: Medium; manufactured_on: string | null;
  design_life_years: number | null; next_inspection_due: string | null; status: CylinderStatus;
  fill_count: number; last_fill_at: string | null; updated_at: string;
  valve_phase: ValvePhase | null; use_registration_no: string | null; maker: string | null; e_id: string | null;
  registered_on: string | null; last_inspected_on: string | null; refillable: number; purge_required: number;
}

interface OperatorRow {
  badge: string; name: string; roles: string; certificate_no: string | null; certificate_expires: string | null; updated_at: string;
}

const toCylinder = (r: CylinderRow): Cylinder => ({
  code: r.code, valveCode: r.valve_code, ownerUnit: r.owner_unit, model: r.model, waterVolumeL: r.water_volume_l,
  allowedFillKg: r.allowed_fill_kg, tareKg: r.tare_kg, medium: r.medium, manufacturedOn: r.manufactured_on,
  designLifeYears: r.design_life_years, nextInspectionDue: r.next_inspection_due, status: r.status,
  fillCount: r.fill_count, lastFillAt: r.last_fill_at, updatedAt: r.updated_at,
  valvePhase: r.valve_phase, useRegistrationNo: r.use_registration_no, maker: r.maker, eId: r.e_id,
  registeredOn: r.registered_on, lastInspectedOn: r.last_inspected_on, refillable: r.refillable !== 0, purgeRequired: r.purge_required !== 0,
});

const toOperator = (r: OperatorRow): Operator => ({
  badge: r.badge, name: r.name, roles: r.roles.split(',').filter(Boolean) as Role[], certificateNo: r.certificate_no,
  certificateExpires: r.certificate_expires, updatedAt: r.updated_at,
});

/** The fields an upsert compares and writes (fill count and last fill are kept). */
const cylinderDataFields = [
  'valveCode', 'ownerUnit', 'model', 'waterVolumeL', 'allowedFillKg', 'tareKg', 'medium', 'manufacturedOn', 'designLifeYears', 'nextInspectionDue', 'status',
  'valvePhase', 'useRegistrationNo', 'maker', 'eId', 'registeredOn', 'lastInspectedOn', 'refillable', 'purgeRequired',
] as const;

/**
 * Purge or vacuum before the first fill and after an inspection (TSG 23): a new cylinder
 * needs one unless the input says it is already in service; an existing one keeps a pending
 * purge (only recordPurge clears it) and gets one when its inspection moved on.
 */
function purgeAfter(before: Cylinder | undefined, input: CylinderInput): boolean {
  if (!before) return input.purgeRequired ?? true;
  if (before.purgeRequired || input.purgeRequired === true) return true;
  const inspectedAgain =
    (input.lastInspectedOn != null && (before.lastInspectedOn === null || input.lastInspectedOn > before.lastInspectedOn)) ||
    (input.nextInspectionDue !== null && before.nextInspectionDue !== null && input.nextInspectionDue > before.nextInspectionDue);
  return inspectedAgain;
}

/** The stored form of an input: status kept when the file leaves it out, optional fields null. */
const cylinderAfter = (input: CylinderInput, before: Cylinder | undefined): Cylinder | Omit<Cylinder, 'fillCount' | 'lastFillAt'> => {
  const keep = <K extends keyof Cylinder>(k: K, d: Cylinder[K]): Cylinder[K] => (input[k as keyof CylinderInput] as Cylinder[K] | undefined) ?? before?.[k] ?? d;
  return {
    ...input, status: input.status ?? before?.status ?? 'active', valveCode: input.valveCode ?? null, waterVolumeL: input.waterVolumeL ?? null,
    // An input without the standards' fields (an older file or caller) keeps what the registry has.
    valvePhase: keep('valvePhase', null), useRegistrationNo: keep('useRegistrationNo', null), maker: keep('maker', null), eId: keep('eId', null),
    registeredOn: keep('registeredOn', null), lastInspectedOn: keep('lastInspectedOn', null), refillable: keep('refillable', true),
    purgeRequired: purgeAfter(before, input),
  } as Cylinder;
};
const operatorDataFields = ['name', 'roles', 'certificateNo', 'certificateExpires'] as const;
const operatorAfter = (input: OperatorInput) => ({
  ...input, roles: [...new Set(input.roles)], certificateNo: input.certificateNo ?? null, certificateExpires: input.certificateExpires ?? null,
});

function changes<T extends object>(before: T | undefined, after: T, fields: readonly (keyof T)[]): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const f of fields) {
    const a = before?.[f] ?? null;
    const b = after[f] ?? null;
    if (JSON.stringify(a) !== JSON.stringify(b)) out[String(f)] = [a, b];
  }
  return out;
}

export class Registry {
  readonly db: Database;
  readonly clock: Clock;
  readonly limits: ImportLimits;
  readonly schemaVersion: number;
  /** Every registry_events line as it is written (the station's signed event log picks the changes: issue 10 point 6). */
  readonly changed = new Signal<{ kind: string; subject: string; reason: string | null; source: string | null; data: Record<string, unknown> | null }>();

  constructor(db: Database, opts: RegistryOptions = {}) {
    this.db = db;
    this.clock = opts.clock ?? systemClock;
    this.limits = opts.limits ?? defaultImportLimits;
    db.pragma('journal_mode = WAL'); // ':memory:' stays 'memory': fine for tests
    db.pragma('synchronous = FULL');
    this.schemaVersion = migrate(db);
  }

  /** Wall time now, ISO 8601 with offset. */
  nowIso(): string {
    return isoWithOffset(this.clock.wall());
  }

  /** Today's local date, YYYY-MM-DD. */
  today(): string {
    return localDate(this.clock.wall());
  }

  /** Statements compiled once: an import looks up every row, and compiling the SQL each time was most of its cost. */
  private readonly statements = new Map<string, Statement>();
  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  getCylinder(code: string): Cylinder | undefined {
    const row = this.stmt('SELECT * FROM cylinders WHERE code = ?').get(code) as CylinderRow | undefined;
    return row && toCylinder(row);
  }

  getCylinderByEId(eId: string): Cylinder | undefined {
    const row = this.db.prepare('SELECT * FROM cylinders WHERE e_id = ?').get(eId) as CylinderRow | undefined;
    return row && toCylinder(row);
  }

  /**
   * A supervisor records the purge or vacuum of a cylinder (TSG 23: before the first fill and
   * after inspection), which clears purgeRequired. Refused for an unknown code, and for a badge
   * that is not a registered supervisor. Logged as cylinder.purged with who, how and when.
   */
  recordPurge(code: string, by: string, method: 'purge' | 'vacuum' = 'purge', note: string | null = null): Cylinder {
    const run = this.db.transaction(() => {
      const c = this.getCylinder(code);
      if (!c) throw new FillgateError('NOT_FOUND', `unknown cylinder ${code}`, { code });
      const op = this.getOperator(by);
      if (!op || !op.roles.includes('supervisor'))
        throw new FillgateError('CONFLICT', `${by} is not a registered supervisor: only a supervisor records a purge`, { code, by });
      const at = this.nowIso();
      this.db.prepare('UPDATE cylinders SET purge_required = 0, updated_at = ? WHERE code = ?').run(at, code);
      this.logEvent('cylinder.purged', code, note, by, { method, by, at, purgeRequired: [c.purgeRequired, false] });
      return this.getCylinder(code)!;
    });
    return run();
  }

  getCylinderByValveCode(valveCode: string): Cylinder | undefined {
    const row = this.stmt('SELECT * FROM cylinders WHERE valve_code = ?').get(valveCode) as CylinderRow | undefined;
    return row && toCylinder(row);
  }

  /** What upsertCylinder would do with this input, without writing (import plans and dry runs). */
  planCylinder(input: CylinderInput): Change {
    const before = this.getCylinder(input.code);
    if (!before) return 'created';
    return Object.keys(changes(before, cylinderAfter(input, before), cylinderDataFields)).length ? 'updated' : 'unchanged';
  }

  /**
   * Create or update a cylinder. Fill count and last fill are never touched here.
   * Throws CONFLICT when a scrapped code would be reactivated (a scrapped cylinder's
   * code is revoked and never reused, domain.md 3) or the valve code is another cylinder's.
   */
  upsertCylinder(input: CylinderInput, source: string | null = null): { cylinder: Cylinder; change: Change } {
    const run = this.db.transaction((): { cylinder: Cylinder; change: Change } => {
      const before = this.getCylinder(input.code);
      const after = cylinderAfter(input, before);
      if (before?.status === 'scrapped' && after.status !== 'scrapped')
        throw new FillgateError('CONFLICT', `cylinder ${input.code} is scrapped: its code is revoked and never reused`, { code: input.code });
      if (after.valveCode) {
        const holder = this.getCylinderByValveCode(after.valveCode);
        if (holder && holder.code !== input.code)
          throw new FillgateError('CONFLICT', `valve code ${after.valveCode} is bound to cylinder ${holder.code}`, { code: input.code, holder: holder.code });
      }
      if (after.eId) {
        const holder = this.getCylinderByEId(after.eId);
        if (holder && holder.code !== input.code)
          throw new FillgateError('CONFLICT', `e-ID ${after.eId} belongs to cylinder ${holder.code}`, { code: input.code, holder: holder.code });
      }
      const diff = changes(before, after, cylinderDataFields);
      if (before && Object.keys(diff).length === 0) return { cylinder: before, change: 'unchanged' };
      const now = this.nowIso();
      this
        .stmt(
          `INSERT INTO cylinders (code, valve_code, owner_unit, model, water_volume_l, allowed_fill_kg, tare_kg, medium,
             manufactured_on, design_life_years, next_inspection_due, status, valve_phase, use_registration_no, maker, e_id,
             registered_on, last_inspected_on, refillable, purge_required, updated_at)
           VALUES (@code, @valveCode, @ownerUnit, @model, @waterVolumeL, @allowedFillKg, @tareKg, @medium,
             @manufacturedOn, @designLifeYears, @nextInspectionDue, @status, @valvePhase, @useRegistrationNo, @maker, @eId,
             @registeredOn, @lastInspectedOn, @refillable, @purgeRequired, @now)
           ON CONFLICT (code) DO UPDATE SET valve_code = @valveCode, owner_unit = @ownerUnit, model = @model,
             water_volume_l = @waterVolumeL, allowed_fill_kg = @allowedFillKg, tare_kg = @tareKg, medium = @medium,
             manufactured_on = @manufacturedOn, design_life_years = @designLifeYears,
             next_inspection_due = @nextInspectionDue, status = @status, valve_phase = @valvePhase,
             use_registration_no = @useRegistrationNo, maker = @maker, e_id = @eId, registered_on = @registeredOn,
             last_inspected_on = @lastInspectedOn, refillable = @refillable, purge_required = @purgeRequired, updated_at = @now`,
        )
        .run({ ...after, refillable: after.refillable ? 1 : 0, purgeRequired: after.purgeRequired ? 1 : 0, now });
      const statusChanged = before && before.status !== after.status;
      const kind = !before ? 'cylinder.created' : statusChanged ? `cylinder.${after.status}` : 'cylinder.updated';
      this.logEvent(kind, input.code, null, source, before ? diff : { status: after.status });
      return { cylinder: this.getCylinder(input.code)!, change: before ? 'updated' : 'created' };
    });
    return run();
  }

  private setStatus(code: string, status: CylinderStatus, reason: string, source: string, from: readonly CylinderStatus[]): Cylinder {
    const run = this.db.transaction(() => {
      const c = this.getCylinder(code);
      if (!c) throw new FillgateError('NOT_FOUND', `unknown cylinder ${code}`, { code });
      if (c.status === status) return c;
      if (!from.includes(c.status))
        throw new FillgateError('CONFLICT', `cylinder ${code} is ${c.status}: cannot become ${status}`, { code, status: c.status });
      this.db.prepare('UPDATE cylinders SET status = ?, updated_at = ? WHERE code = ?').run(status, this.nowIso(), code);
      this.logEvent(`cylinder.${status}`, code, reason, source, { status: [c.status, status] });
      return this.getCylinder(code)!;
    });
    return run();
  }

  /** Take a cylinder out of service pending a check (e.g. a suspected pocket code, a failed post-fill check). */
  quarantine(code: string, reason: string, source: string): Cylinder {
    return this.setStatus(code, 'quarantined', reason, source, ['active']);
  }

  /** Return a quarantined cylinder to service; not one held for a decant (recordDecant releases it). */
  release(code: string, reason: string, source: string): Cylinder {
    const pending = this.pendingDecant(code);
    if (pending) throw new FillgateError('CONFLICT', `cylinder ${code} is held for a decant since ${pending.heldAt}: record the decant to release it`, { code });
    return this.setStatus(code, 'active', reason, source, ['quarantined']);
  }

  /**
   * 超量气瓶严禁出站 (domain.md 1, TSG 23): an overfilled cylinder is quarantined until a supervisor
   * records its decant. Idempotent per cylinder: a second overfill while held adds no second hold.
   */
  holdForDecant(code: string, o: { attemptId?: string; overKg?: number; source: string }): Decant | undefined {
    const run = this.db.transaction(() => {
      const c = this.getCylinder(code);
      if (!c) return undefined;
      const pending = this.pendingDecant(code);
      if (pending) return pending;
      const at = this.nowIso();
      this.db.prepare('INSERT INTO decants (code, attempt_id, held_at, over_kg) VALUES (?, ?, ?, ?)').run(code, o.attemptId ?? null, at, o.overKg ?? null);
      if (c.status === 'active') {
        this.db.prepare("UPDATE cylinders SET status = 'quarantined', updated_at = ? WHERE code = ?").run(at, code);
      }
      this.logEvent('cylinder.decant-hold', code, 'OVERFILLED_MUST_DECANT', o.source, { attemptId: o.attemptId ?? null, overKg: o.overKg ?? null, status: [c.status, c.status === 'active' ? 'quarantined' : c.status] });
      return this.pendingDecant(code);
    });
    return run();
  }

  /** The open decant hold of a cylinder, if any. */
  pendingDecant(code: string): Decant | undefined {
    const row = this.db.prepare('SELECT * FROM decants WHERE code = ? AND decanted_at IS NULL ORDER BY id LIMIT 1').get(code) as DecantRow | undefined;
    return row && toDecant(row);
  }

  /** Decants of a cylinder (or all), newest first. */
  decants(code?: string, limit = 100): Decant[] {
    const rows = this.db.prepare('SELECT * FROM decants WHERE (@code IS NULL OR code = @code) ORDER BY id DESC LIMIT @limit').all({ code: code ?? null, limit }) as DecantRow[];
    return rows.map(toDecant);
  }

  /**
   * A supervisor records the decant of a held cylinder: mass removed, who (a supervisor's badge),
   * when (default now). The hold ends and the cylinder returns to service.
   */
  recordDecant(code: string, d: { removedKg: number; by: string; at?: string; note?: string; source: string }): Decant {
    const run = this.db.transaction(() => {
      const pending = this.pendingDecant(code);
      if (!pending) throw new FillgateError('CONFLICT', `cylinder ${code} is not held for a decant`, { code });
      if (!(Number.isFinite(d.removedKg) && d.removedKg > 0 && d.removedKg < 100)) throw new FillgateError('BAD_PAYLOAD', `removed mass must be a number of kg > 0, got ${d.removedKg}`, { code });
      const who = this.getOperator(d.by);
      if (!who || !who.roles.includes('supervisor')) throw new FillgateError('CONFLICT', `${d.by} is not a supervisor in the registry: only a supervisor records a decant`, { code, by: d.by });
      const at = d.at ?? this.nowIso();
      if (Number.isNaN(Date.parse(at))) throw new FillgateError('BAD_PAYLOAD', `decant time "${at}" is not a date-time`, { code });
      this.db.prepare('UPDATE decants SET decanted_at = ?, removed_kg = ?, decanted_by = ?, note = ? WHERE id = ?').run(at, d.removedKg, d.by, d.note ?? null, pending.id);
      const c = this.getCylinder(code)!;
      if (c.status === 'quarantined') this.db.prepare("UPDATE cylinders SET status = 'active', updated_at = ? WHERE code = ?").run(this.nowIso(), code);
      this.logEvent('cylinder.decanted', code, d.note ?? null, d.source, { removedKg: d.removedKg, by: d.by, at, attemptId: pending.attemptId ?? null, status: [c.status, c.status === 'quarantined' ? 'active' : c.status] });
      return this.decants(code, 1)[0]!;
    });
    return run();
  }

  /** Scrap a cylinder: final, its code is never reused (domain.md 3). */
  scrap(code: string, reason: string, source: string): Cylinder {
    return this.setStatus(code, 'scrapped', reason, source, ['active', 'quarantined']);
  }

  /** Count one fill: fillCount + 1 and lastFillAt = at (epoch ms, or an ISO 8601 string). */
  recordFill(code: string, at: number | string): Cylinder {
    const iso = typeof at === 'number' ? isoWithOffset(at) : at;
    if (Number.isNaN(Date.parse(iso))) throw new FillgateError('BAD_PAYLOAD', `fill time "${String(at)}" is not a date-time`, { code });
    const res = this.db.prepare('UPDATE cylinders SET fill_count = fill_count + 1, last_fill_at = ? WHERE code = ?').run(iso, code);
    if (res.changes === 0) throw new FillgateError('NOT_FOUND', `unknown cylinder ${code}`, { code });
    return this.getCylinder(code)!;
  }

  listCylinders(filter: CylinderFilter = {}): Cylinder[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: filter.limit ?? 1000, offset: filter.offset ?? 0 };
    if (filter.status) (where.push('status = @status'), (args.status = filter.status));
    if (filter.ownerUnit) (where.push('owner_unit = @ownerUnit'), (args.ownerUnit = filter.ownerUnit));
    if (filter.medium) (where.push('medium = @medium'), (args.medium = filter.medium));
    if (filter.model) (where.push('model = @model'), (args.model = filter.model));
    if (filter.inspectionDueBefore) (where.push('next_inspection_due < @due'), (args.due = filter.inspectionDueBefore));
    if (filter.search) {
      where.push("(instr(code, @search) > 0 OR instr(coalesce(valve_code, ''), @search) > 0)");
      args.search = filter.search;
    }
    const sql = `SELECT * FROM cylinders ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY code LIMIT @limit OFFSET @offset`;
    return (this.db.prepare(sql).all(args) as CylinderRow[]).map(toCylinder);
  }

  countCylinders(): Record<CylinderStatus, number> {
    const out: Record<CylinderStatus, number> = { active: 0, quarantined: 0, scrapped: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM cylinders GROUP BY status').all() as { status: CylinderStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  getOperator(badge: string): Operator | undefined {
    const row = this.stmt('SELECT * FROM operators WHERE badge = ?').get(badge) as OperatorRow | undefined;
    return row && toOperator(row);
  }

  /** What upsertOperator would do with this input, without writing. */
  planOperator(input: OperatorInput): Change {
    const before = this.getOperator(input.badge);
    if (!before) return 'created';
    return Object.keys(changes(before, operatorAfter(input), operatorDataFields)).length ? 'updated' : 'unchanged';
  }

  upsertOperator(input: OperatorInput, source: string | null = null): { operator: Operator; change: Change } {
    const run = this.db.transaction((): { operator: Operator; change: Change } => {
      const before = this.getOperator(input.badge);
      const after = operatorAfter(input);
      const diff = changes(before, after, operatorDataFields);
      if (before && Object.keys(diff).length === 0) return { operator: before, change: 'unchanged' };
      this
        .stmt(
          `INSERT INTO operators (badge, name, roles, certificate_no, certificate_expires, updated_at)
           VALUES (@badge, @name, @roles, @certificateNo, @certificateExpires, @now)
           ON CONFLICT (badge) DO UPDATE SET name = @name, roles = @roles, certificate_no = @certificateNo,
             certificate_expires = @certificateExpires, updated_at = @now`,
        )
        .run({ ...after, roles: after.roles.join(','), now: this.nowIso() });
      this.logEvent(before ? 'operator.updated' : 'operator.created', input.badge, null, source, before ? diff : { roles: after.roles });
      return { operator: this.getOperator(input.badge)!, change: before ? 'updated' : 'created' };
    });
    return run();
  }

  listOperators(filter: OperatorFilter = {}): Operator[] {
    const rows = (this.db.prepare('SELECT * FROM operators ORDER BY badge').all() as OperatorRow[]).map(toOperator);
    const s = filter.search?.toLowerCase();
    return rows
      .filter((o) => !filter.role || o.roles.includes(filter.role))
      .filter((o) => !s || [o.badge, o.name, o.certificateNo ?? ''].some((v) => v.toLowerCase().includes(s)))
      .slice(0, filter.limit ?? 1000);
  }

  logEvent(kind: string, subject: string, reason: string | null, source: string | null, data: Record<string, unknown> | null = null): void {
    this
      .stmt('INSERT INTO registry_events (at, kind, subject, reason, source, data) VALUES (?, ?, ?, ?, ?, ?)')
      .run(this.nowIso(), kind, subject, reason, source, data ? JSON.stringify(data) : null);
    this.changed.emit({ kind, subject, reason, source, data });
  }

  /** Newest first. */
  events(filter: { subject?: string; kind?: string; limit?: number } = {}): RegistryEvent[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM registry_events WHERE (@subject IS NULL OR subject = @subject) AND (@kind IS NULL OR kind = @kind)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({ subject: filter.subject ?? null, kind: filter.kind ?? null, limit: filter.limit ?? 100 }) as (Omit<RegistryEvent, 'data'> & { data: string | null })[];
    return rows.map((r) => ({ ...r, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null }));
  }

  /** Import a CSV or JSON file of cylinders; see import.ts for what is applied when. */
  importCylinders(text: string, format: ImportFormat, opts: ImportOptions = {}): ImportReport {
    return runCylinderImport(this, text, format, opts);
  }

  importOperators(text: string, format: ImportFormat, opts: ImportOptions = {}): ImportReport {
    return runOperatorImport(this, text, format, opts);
  }
}

/** Open (and migrate) the registry on a database the gateway opened. */
export function openRegistry(db: Database, opts: RegistryOptions = {}): Registry {
  return new Registry(db, opts);
}
