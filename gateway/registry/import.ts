/**
 * Applying an import file to the registry, in two steps: a plan (read the file,
 * validate every row, check it against the database, work out what it would
 * change; reads only) and the writes. Two modes:
 * - 'all-or-nothing' (default): any error anywhere (a bad row, a bad header) and
 *   nothing is written; the report lists every error so the file is fixed in one pass.
 * - 'valid-rows': rows with errors are skipped and reported; every other row is
 *   written. A file-level error (unreadable file, missing column) still writes nothing.
 * `dryRun` checks everything, database rules included, and writes nothing.
 *
 * Writes: the synchronous path here (small files, in-memory databases) writes
 * every row in one transaction. A user's upload goes through import-chunked.ts:
 * the same plan, written in short transactions from a worker thread so the
 * posts' event loop and their writes are never held up (issue 9 point 5).
 */
import { errorMessage } from '../../protocols/errors.ts';
import type { Registry, Change } from './registry.ts';
import type { ImportFormat, ImportIssue } from './records.ts';
import { parseCylinders, parseOperators, type ParsedImport } from './validate.ts';
import type { CylinderInput, OperatorInput } from './types.ts';

export type { ImportFormat, ImportIssue } from './records.ts';

export type ImportMode = 'all-or-nothing' | 'valid-rows';

export interface ImportOptions {
  mode?: ImportMode;
  dryRun?: boolean;
  /** Who imports, for the change log; default "import". */
  source?: string;
  /** YYYY-MM-DD for overdue/expired warnings; default the registry's today. */
  today?: string;
}

export interface ImportReport {
  format: ImportFormat;
  mode: ImportMode;
  dryRun: boolean;
  /** Data rows in the file. */
  total: number;
  /** Rows with no errors. */
  valid: number;
  /** Rows with at least one error. */
  rejected: number;
  /** What was written (or, in a dry run or a refused all-or-nothing file, what would have been). */
  created: number;
  updated: number;
  unchanged: number;
  /** True when the transaction committed rows to the database. */
  applied: boolean;
  errors: number;
  warnings: number;
  /** Every issue, by row (row 0 = the file). */
  issues: ImportIssue[];
}

type RowProblem = { field: string; severity: 'error' | 'warning'; message: string };
type Counts = { created: number; updated: number; unchanged: number };

/**
 * Everything about an import that is decided before anything is written: the
 * file read, every row validated and checked against the database, and what
 * each row would change. Planning only reads, so it can run on its own
 * connection (a worker thread) while the station keeps writing.
 */
export interface ImportPlan<T = CylinderInput | OperatorInput> {
  kind: 'cylinders' | 'operators';
  format: ImportFormat;
  mode: ImportMode;
  dryRun: boolean;
  source: string;
  total: number;
  issues: ImportIssue[];
  counts: Counts;
  /** Rows that change the database (created or updated), in file order. */
  writes: { row: number; line?: number; key: string; value: T; change: 'created' | 'updated' }[];
  /** Why nothing may be written: a file-level error, a dry run, an all-or-nothing file with errors. */
  blocked?: 'file' | 'dryRun' | 'errors';
}

interface PlanRules<T> {
  parsed: ParsedImport<T>;
  check: (value: T) => RowProblem[];
  plan: (value: T) => Change;
  keyOf: (value: T) => string;
  kind: 'cylinders' | 'operators';
}

function makePlan<T>(format: ImportFormat, opts: ImportOptions, rules: PlanRules<T>): ImportPlan<T> {
  const mode = opts.mode ?? 'all-or-nothing';
  const dryRun = opts.dryRun ?? false;
  const issues = [...rules.parsed.issues];
  const counts: Counts = { created: 0, updated: 0, unchanged: 0 };
  const writes: ImportPlan<T>['writes'] = [];
  for (const v of rules.parsed.valid) {
    const key = rules.keyOf(v.value);
    const problems = rules.check(v.value);
    for (const p of problems) issues.push({ row: v.row, line: v.line, key, ...p });
    if (problems.some((p) => p.severity === 'error')) continue;
    const change = rules.plan(v.value);
    counts[change]++;
    if (change !== 'unchanged') writes.push({ row: v.row, line: v.line, key, value: v.value, change });
  }
  const fileError = issues.some((i) => i.row === 0 && i.severity === 'error');
  const anyError = issues.some((i) => i.severity === 'error');
  // A file that cannot be read counts nothing; a refused or dry-run file reports what would have been written.
  if (fileError) Object.assign(counts, { created: 0, updated: 0, unchanged: 0 });
  const blocked = fileError ? 'file' : dryRun ? 'dryRun' : mode === 'all-or-nothing' && anyError ? 'errors' : undefined;
  return { kind: rules.kind, format, mode, dryRun, source: opts.source ?? 'import', total: rules.parsed.total, issues, counts, writes, blocked };
}

/** Read, validate and check a cylinder file against the registry; writes nothing. */
export function planCylinderImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportPlan<CylinderInput> {
  const parsed = parseCylinders(text, format, { today: opts.today ?? registry.today(), limits: registry.limits });
  // A Map, not a search of the file per row: re-importing 80k cylinders with valve codes was quadratic (issue 9 point 5).
  const inFile = new Map(parsed.valid.map((r) => [r.value.code, r.value]));
  return makePlan<CylinderInput>(format, opts, {
    parsed,
    kind: 'cylinders',
    keyOf: (v) => v.code,
    check: (v) => {
      const out: RowProblem[] = [];
      const existing = registry.getCylinder(v.code);
      if (existing?.status === 'scrapped' && v.status !== 'scrapped')
        out.push({ field: 'status', severity: 'error', message: `cylinder ${v.code} is scrapped: its code is revoked and never reused (domain.md 3)` });
      if (existing && existing.ownerUnit !== v.ownerUnit && existing.status !== 'scrapped')
        out.push({ field: 'ownerUnit', severity: 'warning', message: `cylinder ${v.code} moves from unit ${existing.ownerUnit} to ${v.ownerUnit} (a cylinder belongs to one unit, domain.md 3): check the transfer` });
      if (v.valveCode) {
        const holder = registry.getCylinderByValveCode(v.valveCode);
        // The holder may give the valve code up in this same file.
        const holderRow = holder && inFile.get(holder.code);
        if (holder && holder.code !== v.code && (!holderRow || holderRow.valveCode === v.valveCode))
          out.push({ field: 'valveCode', severity: 'error', message: `valve code ${v.valveCode} is bound to cylinder ${holder.code}` });
      }
      if (v.eId) {
        const holder = registry.getCylinderByEId(v.eId);
        const holderRow = holder && inFile.get(holder.code);
        if (holder && holder.code !== v.code && (!holderRow || holderRow.eId === v.eId))
          out.push({ field: 'eId', severity: 'error', message: `e-ID ${v.eId} belongs to cylinder ${holder.code} (one cylinder, one mark: GB 5842-2023)` });
      }
      if (existing?.purgeRequired && v.purgeRequired === false)
        out.push({ field: 'purgeRequired', severity: 'warning', message: `cylinder ${v.code} waits for a purge (TSG 23): an import does not clear it, a supervisor records the purge (fillgate registry purge)` });
      return out;
    },
    plan: (v) => registry.planCylinder(v),
  });
}

/** Read and validate an operator file; writes nothing. */
export function planOperatorImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportPlan<OperatorInput> {
  const parsed = parseOperators(text, format, { today: opts.today ?? registry.today(), limits: registry.limits });
  return makePlan<OperatorInput>(format, opts, { parsed, kind: 'operators', keyOf: (v) => v.badge, check: () => [], plan: (v) => registry.planOperator(v) });
}

export function planImport(registry: Registry, kind: 'cylinders' | 'operators', text: string, format: ImportFormat, opts: ImportOptions): ImportPlan {
  return kind === 'cylinders' ? planCylinderImport(registry, text, format, opts) : planOperatorImport(registry, text, format, opts);
}

/** Write one planned row (upsert re-checks the database rules, which may have changed since planning). */
export function writePlannedRow(registry: Registry, plan: ImportPlan, w: ImportPlan['writes'][number]): void {
  if (plan.kind === 'cylinders') registry.upsertCylinder(w.value as CylinderInput, plan.source);
  else registry.upsertOperator(w.value as OperatorInput, plan.source);
}

/** The change-log entry for a whole import, written with its last rows. */
export function logImported(registry: Registry, plan: ImportPlan): void {
  registry.logEvent(`${plan.kind}.imported`, plan.source, null, plan.source, { format: plan.format, mode: plan.mode, ...plan.counts });
}

export function reportOf(plan: ImportPlan, applied: boolean, extra: ImportIssue[] = []): ImportReport {
  const issues = [...plan.issues, ...extra].sort((a, b) => a.row - b.row);
  const rejectedRows = new Set(issues.filter((i) => i.severity === 'error' && i.row > 0).map((i) => i.row));
  return {
    format: plan.format, mode: plan.mode, dryRun: plan.dryRun, total: plan.total, valid: plan.total - rejectedRows.size, rejected: rejectedRows.size,
    ...plan.counts, applied, errors: issues.filter((i) => i.severity === 'error').length,
    warnings: issues.filter((i) => i.severity === 'warning').length, issues,
  };
}

/**
 * The synchronous import: plan, then every row in one transaction. For small
 * files and in-memory databases (tests, the demo's example files); anything a
 * user uploads goes through import-chunked.ts in a worker thread instead.
 */
function runSync(registry: Registry, plan: ImportPlan): ImportReport {
  if (plan.blocked) return reportOf(plan, false);
  try {
    registry.db.transaction(() => {
      for (const w of plan.writes) writePlannedRow(registry, plan, w);
      logImported(registry, plan);
    })();
    return reportOf(plan, true);
  } catch (err) {
    return reportOf(plan, false, [{ row: 0, severity: 'error', message: `import rolled back, nothing written: ${errorMessage(err)}` }]);
  }
}

export function runCylinderImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportReport {
  return runSync(registry, planCylinderImport(registry, text, format, opts));
}

export function runOperatorImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportReport {
  return runSync(registry, planOperatorImport(registry, text, format, opts));
}

/** One line per issue, for the CLI and logs: "row 3 (line 4) C1003 tareKg: error: tare (kg) missing". */
export function formatIssue(i: ImportIssue): string {
  const where = i.row === 0 ? 'file' : `row ${i.row}${i.line !== undefined ? ` (line ${i.line})` : ''}`;
  return `${where}${i.key ? ` ${i.key}` : ''}${i.field ? ` ${i.field}` : ''}: ${i.severity}: ${i.message}`;
}
