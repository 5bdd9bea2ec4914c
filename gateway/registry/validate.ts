/**
 * Row validation for registry imports: every problem of every row is reported
 * (not only the first), as an error (the row is rejected) or a warning (the row
 * is kept, but someone should look). Pure: no database; the registry adds the
 * checks that need one (a scrapped code reused, a valve code taken).
 */
import { addYears, parseDate } from './dates.ts';
import { cylinderModels, defaultImportLimits, findModel, maxFillFor, type ImportLimits } from './models.ts';
import { readRows, type ImportFormat, type ImportIssue, type RawRow } from './records.ts';
import { cylinderStatuses, media, roles, valvePhases, type CylinderInput, type CylinderStatus, type Medium, type OperatorInput, type Role, type ValvePhase } from './types.ts';

export const cylinderFields = [
  'code', 'valveCode', 'ownerUnit', 'model', 'waterVolumeL', 'allowedFillKg', 'tareKg', 'medium',
  'manufacturedOn', 'designLifeYears', 'nextInspectionDue', 'status',
  // Issue 10 point 7 (optional columns, so older files still import; what a rule needs and a row lacks is refused at the post).
  'valvePhase', 'useRegistrationNo', 'maker', 'eId', 'registeredOn', 'lastInspectedOn', 'refillable', 'purgeRequired',
] as const;
export const cylinderRequired = ['code', 'ownerUnit', 'model', 'allowedFillKg', 'tareKg', 'medium', 'manufacturedOn', 'designLifeYears', 'nextInspectionDue'] as const;
export const operatorFields = ['badge', 'name', 'roles', 'certificateNo', 'certificateExpires'] as const;
export const operatorRequired = ['badge', 'name', 'roles'] as const;

/** Codes and badges: printable ASCII without spaces, as readers send them (domain.md 3). */
const CODE_RE = /^[\x21-\x7e]{1,64}$/;

export interface ValidateOptions {
  /** YYYY-MM-DD, for "already overdue / expired" warnings and future-date errors. */
  today: string;
  limits?: ImportLimits;
}

export interface ValidRow<T> {
  row: number;
  line?: number;
  value: T;
}

export interface ParsedImport<T> {
  /** Rows that have no errors (they may have warnings). */
  valid: ValidRow<T>[];
  /** Rows in the file (0 when the file itself could not be read). */
  total: number;
  issues: ImportIssue[];
}

type Issue = Omit<ImportIssue, 'row' | 'line' | 'key'>;

/** Reads one field of a raw row, recording an issue when it is missing or malformed. */
class FieldReader {
  readonly issues: Issue[] = [];
  constructor(private readonly values: Record<string, unknown>) {}

  error(field: string | undefined, message: string): void {
    this.issues.push({ field, severity: 'error', message });
  }
  warn(field: string | undefined, message: string): void {
    this.issues.push({ field, severity: 'warning', message });
  }
  has(field: string): boolean {
    return this.values[field] !== undefined;
  }

  text(field: string, required: boolean, what = field): string | undefined {
    const v = this.values[field];
    if (v === undefined) {
      if (required) this.error(field, `${what} missing`);
      return undefined;
    }
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    if (typeof v !== 'string') {
      this.error(field, `${what} must be text, got ${typeof v}`);
      return undefined;
    }
    return v.trim();
  }

  code(field: string, required: boolean, what: string): string | undefined {
    const v = this.text(field, required, what);
    if (v !== undefined && !CODE_RE.test(v)) {
      this.error(field, `${what} "${v}" must be 1-64 printable characters without spaces`);
      return undefined;
    }
    return v;
  }

  number(field: string, opts: { required: boolean; min: number; max: number; integer?: boolean; what?: string }): number | undefined {
    const what = opts.what ?? field;
    const v = this.values[field];
    if (v === undefined) {
      if (opts.required) this.error(field, `${what} missing`);
      return undefined;
    }
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isFinite(n)) {
      this.error(field, `${what} "${String(v)}" is not a number (use a point for decimals)`);
      return undefined;
    }
    if (opts.integer && !Number.isInteger(n)) {
      this.error(field, `${what} ${n} must be a whole number`);
      return undefined;
    }
    if (n < opts.min || n > opts.max) {
      this.error(field, `${what} ${n} is outside ${opts.min}..${opts.max}`);
      return undefined;
    }
    return n;
  }

  date(field: string, required: boolean, allowMonth = false): string | undefined {
    const v = this.text(field, required);
    if (v === undefined) return undefined;
    const d = parseDate(v, allowMonth);
    if (!d) this.error(field, `${field} "${v}" is not a date (YYYY-MM-DD${allowMonth ? ' or YYYY-MM' : ''})`);
    return d;
  }

  /** true/false, yes/no, 1/0, 是/否 (a spreadsheet's TRUE/FALSE too). */
  bool(field: string): boolean | undefined {
    const v = this.values[field];
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    const t = String(v).trim().toLowerCase();
    if (['true', 'yes', 'y', '1', '是'].includes(t)) return true;
    if (['false', 'no', 'n', '0', '否'].includes(t)) return false;
    this.error(field, `${field} "${String(v)}" must be true or false (yes/no, 1/0, 是/否)`);
    return undefined;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], required: boolean, normalise = (s: string) => s): T | undefined {
    const v = this.text(field, required);
    if (v === undefined) return undefined;
    const n = normalise(v);
    if (!(allowed as readonly string[]).includes(n)) {
      this.error(field, `${field} "${v}" must be one of ${allowed.join(', ')}`);
      return undefined;
    }
    return n as T;
  }
}

function structural(r: FieldReader, raw: Record<string, unknown>): boolean {
  if (raw.__notObject) {
    r.error(undefined, 'row is not an object');
    return false;
  }
  if (raw.__extraFields) {
    // The columns no longer line up: field-by-field errors would only be noise.
    r.error(undefined, `row has ${String(raw.__extraFields)} more fields than the header (an unquoted comma, e.g. a decimal comma?)`);
    return false;
  }
  return true;
}

/** Validate one cylinder row. `value` is set only when the row has no errors. */
export function validateCylinderRow(raw: Record<string, unknown>, opts: ValidateOptions): { value?: CylinderInput; issues: Issue[] } {
  const r = new FieldReader(raw);
  if (!structural(r, raw)) return { issues: r.issues };
  const limits = opts.limits ?? defaultImportLimits;
  const code = r.code('code', true, 'cylinder code');
  const valveCode = r.code('valveCode', false, 'valve code');
  const ownerUnit = r.text('ownerUnit', true, 'owner unit');
  const modelText = r.text('model', true);
  const model = modelText === undefined ? undefined : findModel(modelText);
  if (modelText !== undefined && !model) r.error('model', `unknown model "${modelText}" (known: ${Object.keys(cylinderModels).join(', ')})`);
  const medium = r.oneOf<Medium>('medium', media, true, (s) => s.toUpperCase());
  const waterVolumeL = r.number('waterVolumeL', { required: false, min: 0.1, max: 1000 });
  const tareKg = r.number('tareKg', { required: true, min: 0.1, max: 500, what: 'tare (kg)' });
  const allowedFillKg = r.number('allowedFillKg', { required: true, min: 0.1, max: 500, what: 'allowed fill mass (kg)' });
  const manufacturedOn = r.date('manufacturedOn', true, true);
  const designLifeYears = r.number('designLifeYears', { required: true, min: 1, max: 50, integer: true, what: 'design life (years)' });
  const nextInspectionDue = r.date('nextInspectionDue', true);
  const status = r.oneOf<CylinderStatus>('status', cylinderStatuses, false, (s) => s.toLowerCase()) ?? 'active';
  if (ownerUnit === '') r.error('ownerUnit', 'owner unit missing');
  const valvePhase = r.oneOf<ValvePhase>('valvePhase', valvePhases, false, normalisePhase);
  const useRegistrationNo = r.text('useRegistrationNo', false, 'use-registration number');
  const maker = r.text('maker', false);
  const eId = r.code('eId', false, 'e-ID');
  const registeredOn = r.date('registeredOn', false);
  const lastInspectedOn = r.date('lastInspectedOn', false);
  const refillable = r.bool('refillable');
  const purgeRequired = r.bool('purgeRequired');
  const fifty = model ? cylinderModels[model].fiftyKg === true : false;
  // GB 5842-2023: liquid-phase cylinders are made only in the 50 kg size; another size is a data error.
  if (model && valvePhase === 'liquid' && !fifty) r.error('valvePhase', `a liquid-phase valve on ${model}: GB 5842-2023 makes liquid-phase cylinders only in the 50 kg size (YSP118)`);
  if (status === 'active' && valvePhase === 'dual')
    r.warn('valvePhase', 'dual-phase cylinder: banned (GB 5842-2023, seed 001), it will be refused; scrap it or have an inspection body convert it to a single-phase valve');
  for (const [field, d] of [['registeredOn', registeredOn], ['lastInspectedOn', lastInspectedOn]] as const)
    if (d && d > opts.today) r.error(field, `${field} ${d} is in the future`);
  if (lastInspectedOn && manufacturedOn && lastInspectedOn < manufacturedOn) r.error('lastInspectedOn', `last inspection ${lastInspectedOn} is before manufacture ${manufacturedOn}`);
  if (status === 'active' && refillable === false) r.warn('refillable', 'non-refillable cylinder: it will be refused (seed 002 item 26)');

  if (model) {
    const info = cylinderModels[model];
    if (waterVolumeL !== undefined && Math.abs(waterVolumeL - info.waterVolumeL) > info.waterVolumeL * 0.05)
      r.warn('waterVolumeL', `water volume ${waterVolumeL} L differs from ${model}'s ${info.waterVolumeL} L by more than 5 %`);
    if (tareKg !== undefined) checkTare(r, tareKg, model, limits);
    if (allowedFillKg !== undefined && medium) checkAllowedFill(r, allowedFillKg, model, medium, waterVolumeL, limits);
    if (medium === 'DME')
      r.warn('medium', `DME cylinders are made to GB 25035; ${model} is a GB 5842 LPG model: check the model (fill limit uses ${limits.fillCoefficientKgPerL.DME} kg/L)`);
  }
  if (manufacturedOn && manufacturedOn > opts.today) r.error('manufacturedOn', `manufacture date ${manufacturedOn} is in the future`);
  if (manufacturedOn && nextInspectionDue && nextInspectionDue < manufacturedOn)
    r.error('nextInspectionDue', `next inspection ${nextInspectionDue} is before manufacture ${manufacturedOn}`);
  if (designLifeYears !== undefined && designLifeYears > 15)
    r.warn('designLifeYears', `design life ${designLifeYears} years is longer than the 8-15 years GB 5842 cylinders have (domain.md 2)`);
  if (status === 'active' && nextInspectionDue && nextInspectionDue < opts.today)
    r.warn('nextInspectionDue', `inspection overdue since ${nextInspectionDue}: the cylinder will be refused`);
  if (status === 'active' && manufacturedOn && designLifeYears !== undefined && addYears(manufacturedOn, designLifeYears) <= opts.today)
    r.warn('designLifeYears', `past design life since ${addYears(manufacturedOn, designLifeYears)}: the cylinder will be refused`);

  if (r.issues.some((i) => i.severity === 'error')) return { issues: r.issues };
  return {
    issues: r.issues,
    value: {
      code: code!, valveCode: valveCode ?? null, ownerUnit: ownerUnit!, model: model!, waterVolumeL: waterVolumeL ?? null,
      allowedFillKg: allowedFillKg!, tareKg: tareKg!, medium: medium!, manufacturedOn: manufacturedOn!,
      designLifeYears: designLifeYears!, nextInspectionDue: nextInspectionDue!, status,
      valvePhase: valvePhase ?? null, useRegistrationNo: useRegistrationNo || null, maker: maker || null, eId: eId ?? null,
      registeredOn: registeredOn ?? null, lastInspectedOn: lastInspectedOn ?? null,
      ...(refillable !== undefined ? { refillable } : {}), ...(purgeRequired !== undefined ? { purgeRequired } : {}),
    },
  };
}

/** gas/liquid/dual, also 气相/液相/气液双相 and "dual-phase" as a spreadsheet may write them. */
function normalisePhase(s: string): string {
  const t = s.trim().toLowerCase().replace(/[\s_-]+/g, '');
  const map: Record<string, ValvePhase> = { gas: 'gas', gasphase: 'gas', 气相: 'gas', liquid: 'liquid', liquidphase: 'liquid', 液相: 'liquid', dual: 'dual', dualphase: 'dual', 气液双相: 'dual', 双相: 'dual' };
  return map[t] ?? s;
}

function checkTare(r: FieldReader, tareKg: number, model: string, limits: ImportLimits): void {
  const typical = cylinderModels[model].typicalTareKg;
  if (tareKg > typical * limits.tareErrorFactor || tareKg < typical / limits.tareErrorFactor)
    r.error('tareKg', `tare ${tareKg} kg is implausible for ${model} (typical ${typical} kg): a typo?`);
  else if (Math.abs(tareKg - typical) > typical * limits.tareWarnFraction)
    r.warn('tareKg', `tare ${tareKg} kg differs from ${model}'s typical ${typical} kg by more than ${limits.tareWarnFraction * 100} %`);
}

function checkAllowedFill(r: FieldReader, kg: number, model: string, medium: Medium, ownVolume: number | undefined, limits: ImportLimits): void {
  const info = cylinderModels[model];
  const max = maxFillFor(info.waterVolumeL, medium, limits);
  const coeff = limits.fillCoefficientKgPerL[medium];
  if (kg > max + 1e-9) {
    r.error('allowedFillKg', `allowed fill mass ${kg} kg is above ${model}'s ${info.waterVolumeL} L × ${coeff} kg/L = ${max} kg (domain.md 2)`);
    return;
  }
  if (ownVolume !== undefined && kg > maxFillFor(ownVolume, medium, limits) + 1e-9) {
    r.error('allowedFillKg', `allowed fill mass ${kg} kg is above this cylinder's ${ownVolume} L × ${coeff} kg/L = ${maxFillFor(ownVolume, medium, limits)} kg`);
    return;
  }
  if (kg < max * 0.8) r.warn('allowedFillKg', `allowed fill mass ${kg} kg is well below ${model}'s ${max} kg`);
}

/** Roles in one field: "filler;checker", "filler|checker", "filler checker", or a JSON array. */
function readRoles(r: FieldReader, raw: unknown): Role[] | undefined {
  if (raw === undefined) {
    r.error('roles', 'roles missing');
    return undefined;
  }
  const parts = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(/[;|/,\s]+/) : [];
  const names = parts.map((p) => p.trim().toLowerCase()).filter(Boolean);
  const bad = names.filter((n) => !(roles as readonly string[]).includes(n));
  if (bad.length) r.error('roles', `unknown roles: ${bad.join(', ')} (known: ${roles.join(', ')})`);
  if (names.length === 0) r.error('roles', 'at least one role is needed');
  return bad.length || names.length === 0 ? undefined : [...new Set(names as Role[])];
}

export function validateOperatorRow(raw: Record<string, unknown>, opts: ValidateOptions): { value?: OperatorInput; issues: Issue[] } {
  const r = new FieldReader(raw);
  if (!structural(r, raw)) return { issues: r.issues };
  const badge = r.code('badge', true, 'badge');
  const name = r.text('name', true);
  if (name === '') r.error('name', 'name missing');
  const roleList = readRoles(r, raw.roles);
  const certificateNo = r.text('certificateNo', false);
  const certificateExpires = r.date('certificateExpires', false);
  const needsCertificate = roleList?.some((x) => x === 'filler' || x === 'checker');
  if (needsCertificate && (!certificateNo || !r.has('certificateExpires')))
    r.warn('certificateNo', 'fillers and checkers need a P certificate number and expiry date (domain.md 1): they will be refused at badge-in');
  if (needsCertificate && certificateExpires && certificateExpires < opts.today)
    r.warn('certificateExpires', `certificate expired on ${certificateExpires}: the operator will be refused at badge-in`);
  if (r.issues.some((i) => i.severity === 'error')) return { issues: r.issues };
  return { issues: r.issues, value: { badge: badge!, name: name!, roles: roleList!, certificateNo: certificateNo ?? null, certificateExpires: certificateExpires ?? null } };
}

function collect<T>(rows: RawRow[], fileIssues: ImportIssue[], validate: (raw: Record<string, unknown>) => { value?: T; issues: Issue[] }, keyOf: (raw: Record<string, unknown>) => unknown, uniques: { field: string; of: (v: T) => string | null | undefined; what: string }[]): ParsedImport<T> {
  const issues = [...fileIssues];
  const valid: ValidRow<T>[] = [];
  const firstSeen = uniques.map(() => new Map<string, number>());
  for (const raw of rows) {
    const res = validate(raw.values);
    const rawKey = keyOf(raw.values);
    const key = typeof rawKey === 'string' || typeof rawKey === 'number' ? String(rawKey).trim() : undefined;
    const rowIssues = res.issues.map((i): ImportIssue => ({ row: raw.row, line: raw.line, key, ...i }));
    if (res.value) {
      uniques.forEach((u, i) => {
        const k = u.of(res.value!);
        if (!k) return;
        const first = firstSeen[i].get(k);
        if (first !== undefined) rowIssues.push({ row: raw.row, line: raw.line, key, field: u.field, severity: 'error', message: `duplicate ${u.what} ${k} (first on row ${first})` });
        else firstSeen[i].set(k, raw.row);
      });
    }
    issues.push(...rowIssues);
    if (res.value && !rowIssues.some((i) => i.severity === 'error')) valid.push({ row: raw.row, line: raw.line, value: res.value });
  }
  return { valid, total: rows.length, issues };
}

/** Read and validate a cylinder file without touching any database. */
export function parseCylinders(text: string, format: ImportFormat, opts: ValidateOptions): ParsedImport<CylinderInput> {
  const file = readRows(text, format, cylinderFields, cylinderRequired, 'cylinders');
  const parsed = collect(file.rows, file.issues, (raw) => validateCylinderRow(raw, opts), (raw) => raw.code, [
    { field: 'code', of: (v) => v.code, what: 'cylinder code' },
    { field: 'valveCode', of: (v) => v.valveCode, what: 'valve code' },
    { field: 'eId', of: (v) => v.eId, what: 'e-ID' },
  ]);
  // Fields the post refuses without (issue 10 point 7): one summary per field, not a warning on every row of an older file.
  const active = parsed.valid.filter((v) => (v.value.status ?? 'active') === 'active');
  const lacking = (what: string, field: string, why: string, rows: ValidRow<CylinderInput>[]) => {
    if (rows.length === 0) return;
    const list = rows.slice(0, 10).map((v) => v.row).join(', ') + (rows.length > 10 ? ', …' : '');
    parsed.issues.push({ row: 0, field, severity: 'warning', message: `${rows.length} active cylinder(s) without ${what} (rows ${list}): they will be refused at the post (${why})` });
  };
  lacking('a use-registration number', 'useRegistrationNo', 'seed 002 item 22, TSG 23', active.filter((v) => !v.value.useRegistrationNo));
  lacking('a maker', 'maker', 'GB 5842-2023 stamp', active.filter((v) => !v.value.maker));
  lacking('a valve phase, 50 kg', 'valvePhase', 'GB 5842-2023: a 50 kg cylinder may be dual-phase', active.filter((v) => !v.value.valvePhase && cylinderModels[v.value.model]?.fiftyKg));
  return parsed;
}

/** Read and validate an operator file without touching any database. */
export function parseOperators(text: string, format: ImportFormat, opts: ValidateOptions): ParsedImport<OperatorInput> {
  const file = readRows(text, format, operatorFields, operatorRequired, 'operators');
  return collect(file.rows, file.issues, (raw) => validateOperatorRow(raw, opts), (raw) => raw.badge, [
    { field: 'badge', of: (v) => v.badge, what: 'badge' },
  ]);
}
