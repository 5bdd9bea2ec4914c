/**
 * Applying an import file to the registry.
 *
 * Atomicity: everything is written in one SQLite transaction, so nothing is ever
 * half-imported and no row is ever partly written. Two modes:
 * - 'all-or-nothing' (default): any error anywhere (a bad row, a bad header) and
 *   nothing is written; the report lists every error so the file is fixed in one pass.
 * - 'valid-rows': rows with errors are skipped and reported; every other row is
 *   written. A file-level error (unreadable file, missing column) still writes nothing.
 * `dryRun` checks everything, database rules included, and writes nothing.
 */
import { errorMessage } from '../../protocols/errors.ts';
import type { Registry, Change } from './registry.ts';
import type { ImportFormat, ImportIssue } from './records.ts';
import { parseCylinders, parseOperators, type ParsedImport, type ValidRow } from './validate.ts';
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

class Rollback extends Error {}

type RowProblem = { field: string; severity: 'error' | 'warning'; message: string };

interface Plan<T> {
  parsed: ParsedImport<T>;
  /** Database rules for one row: issues, empty when fine. */
  check: (value: T, all: ValidRow<T>[]) => RowProblem[];
  apply: (value: T) => Change;
  keyOf: (value: T) => string;
  kind: 'cylinders' | 'operators';
}

function run<T>(registry: Registry, format: ImportFormat, opts: ImportOptions, plan: Plan<T>): ImportReport {
  const mode = opts.mode ?? 'all-or-nothing';
  const dryRun = opts.dryRun ?? false;
  const issues = [...plan.parsed.issues];
  const counts = { created: 0, updated: 0, unchanged: 0 };
  let applied = false;
  const tx = registry.db.transaction(() => {
    const ok: ValidRow<T>[] = [];
    for (const v of plan.parsed.valid) {
      const problems = plan.check(v.value, plan.parsed.valid);
      for (const p of problems) issues.push({ row: v.row, line: v.line, key: plan.keyOf(v.value), ...p });
      if (!problems.some((p) => p.severity === 'error')) ok.push(v);
    }
    const fileError = issues.some((i) => i.row === 0 && i.severity === 'error');
    const anyError = issues.some((i) => i.severity === 'error');
    if (fileError) throw new Rollback();
    for (const v of ok) counts[plan.apply(v.value)]++;
    if (dryRun || (mode === 'all-or-nothing' && anyError)) throw new Rollback();
    registry.logEvent(`${plan.kind}.imported`, opts.source ?? 'import', null, opts.source ?? 'import', { format, mode, ...counts });
  });
  try {
    tx();
    applied = true;
  } catch (err) {
    if (!(err instanceof Rollback)) issues.push({ row: 0, severity: 'error', message: `import rolled back, nothing written: ${errorMessage(err)}` });
  }
  issues.sort((a, b) => a.row - b.row);
  const rejectedRows = new Set(issues.filter((i) => i.severity === 'error' && i.row > 0).map((i) => i.row));
  return {
    format, mode, dryRun, total: plan.parsed.total, valid: plan.parsed.total - rejectedRows.size, rejected: rejectedRows.size,
    ...counts, applied, errors: issues.filter((i) => i.severity === 'error').length,
    warnings: issues.filter((i) => i.severity === 'warning').length, issues,
  };
}

export function runCylinderImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportReport {
  const parsed = parseCylinders(text, format, { today: opts.today ?? registry.today(), limits: registry.limits });
  const source = opts.source ?? 'import';
  return run<CylinderInput>(registry, format, opts, {
    parsed,
    kind: 'cylinders',
    keyOf: (v) => v.code,
    check: (v, all) => {
      const out: RowProblem[] = [];
      const existing = registry.getCylinder(v.code);
      if (existing?.status === 'scrapped' && v.status !== 'scrapped')
        out.push({ field: 'status', severity: 'error', message: `cylinder ${v.code} is scrapped: its code is revoked and never reused (domain.md 3)` });
      if (existing && existing.ownerUnit !== v.ownerUnit && existing.status !== 'scrapped')
        out.push({ field: 'ownerUnit', severity: 'warning', message: `cylinder ${v.code} moves from unit ${existing.ownerUnit} to ${v.ownerUnit} (a cylinder belongs to one unit, domain.md 3): check the transfer` });
      if (v.valveCode) {
        const holder = registry.getCylinderByValveCode(v.valveCode);
        // The holder may give the valve code up in this same file.
        const holderRow = holder && all.find((r) => r.value.code === holder.code);
        if (holder && holder.code !== v.code && (!holderRow || holderRow.value.valveCode === v.valveCode))
          out.push({ field: 'valveCode', severity: 'error', message: `valve code ${v.valveCode} is bound to cylinder ${holder.code}` });
      }
      if (v.eId) {
        const holder = registry.getCylinderByEId(v.eId);
        const holderRow = holder && all.find((r) => r.value.code === holder.code);
        if (holder && holder.code !== v.code && (!holderRow || holderRow.value.eId === v.eId))
          out.push({ field: 'eId', severity: 'error', message: `e-ID ${v.eId} belongs to cylinder ${holder.code} (one cylinder, one mark: GB 5842-2023)` });
      }
      if (existing?.purgeRequired && v.purgeRequired === false)
        out.push({ field: 'purgeRequired', severity: 'warning', message: `cylinder ${v.code} waits for a purge (TSG 23): an import does not clear it, a supervisor records the purge (fillgate registry purge)` });
      return out;
    },
    apply: (v) => registry.upsertCylinder(v, source).change,
  });
}

export function runOperatorImport(registry: Registry, text: string, format: ImportFormat, opts: ImportOptions): ImportReport {
  const parsed = parseOperators(text, format, { today: opts.today ?? registry.today(), limits: registry.limits });
  const source = opts.source ?? 'import';
  return run<OperatorInput>(registry, format, opts, {
    parsed,
    kind: 'operators',
    keyOf: (v) => v.badge,
    check: () => [],
    apply: (v) => registry.upsertOperator(v, source).change,
  });
}

/** One line per issue, for the CLI and logs: "row 3 (line 4) C1003 tareKg: error: tare (kg) missing". */
export function formatIssue(i: ImportIssue): string {
  const where = i.row === 0 ? 'file' : `row ${i.row}${i.line !== undefined ? ` (line ${i.line})` : ''}`;
  return `${where}${i.key ? ` ${i.key}` : ''}${i.field ? ` ${i.field}` : ''}: ${i.severity}: ${i.message}`;
}
