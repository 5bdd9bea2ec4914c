/**
 * `fillgate records export --from --to --format csv|json` and the receiver's
 * per-station export share these writers. Rows are in seq order; the period
 * filters on the commit wall time. CSV masses are kg with 3 decimals (from
 * integer grams, so no float noise).
 */
import { FillgateError } from '../../protocols/errors.ts';
import { openRecordsDb, type Db } from './db.ts';
import type { FillRecordV1 } from './record.ts';

export type ExportFormat = 'csv' | 'json';

export interface ExportOptions {
  /** Inclusive start and exclusive end: ISO 8601 date/date-time or epoch ms. */
  from?: string | number;
  to?: string | number;
  format: ExportFormat;
}

export function parseTimeBound(v: string | number | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) throw new FillgateError('BAD_CONFIG', `--${name}: "${v}" is not an ISO 8601 date or date-time`, { [name]: v });
  return ms;
}

export function exportRecords(dbOrPath: Db | string, opts: ExportOptions): string {
  const from = parseTimeBound(opts.from, 'from') ?? -8.64e15;
  const to = parseTimeBound(opts.to, 'to') ?? 8.64e15;
  const { db, owned } = openRecordsDb(dbOrPath, { readonly: typeof dbOrPath === 'string' });
  try {
    const rows = db.prepare('SELECT body FROM records WHERE wall_ms >= ? AND wall_ms < ? ORDER BY seq').all(from, to) as { body: string }[];
    return formatRecords(rows.map((r) => JSON.parse(r.body) as FillRecordV1), opts.format);
  } finally {
    if (owned) db.close();
  }
}

export function formatRecords(records: FillRecordV1[], format: ExportFormat): string {
  if (format === 'json') return records.length === 0 ? '[]\n' : '[\n' + records.map((r) => JSON.stringify(r)).join(',\n') + '\n]\n';
  if (format === 'csv') return recordsToCsv(records);
  throw new FillgateError('BAD_CONFIG', `--format must be csv or json, not "${format as string}"`, {});
}

const kg = (g: number | undefined) => (g === undefined ? '' : (g / 1000).toFixed(3));
const checkOk = (c: FillRecordV1['preFillCheck']) => (c ? (c.items.every((i) => i.ok) ? 'ok' : 'failed:' + c.items.filter((i) => !i.ok).map((i) => i.item).join(';')) : '');

export const CSV_COLUMNS: [string, (r: FillRecordV1) => string | number | boolean | undefined][] = [
  ['station', (r) => r.station], ['seq', (r) => r.seq], ['id', (r) => r.id], ['recordedAt', (r) => r.recordedAt],
  ['unit', (r) => r.unit], ['post', (r) => r.post], ['outcome', (r) => r.outcome],
  ['cylinderCode', (r) => r.cylinderCode], ['valveCode', (r) => r.valveCode], ['medium', (r) => r.medium], ['model', (r) => r.model],
  ['fillerBadge', (r) => r.filler?.badge], ['fillerName', (r) => r.filler?.name], ['fillerCertificate', (r) => r.filler?.certificate],
  ['checkerBadge', (r) => r.checker?.badge], ['checkerName', (r) => r.checker?.name], ['checkerCertificate', (r) => r.checker?.certificate],
  ['tareKg', (r) => kg(r.tareG)], ['allowedFillKg', (r) => kg(r.allowedFillG)], ['targetKg', (r) => kg(r.targetG)],
  ['netFilledKg', (r) => kg(r.netFilledG)], ['reweighedGrossKg', (r) => kg(r.reweighedGrossG)], ['reweighedNetKg', (r) => kg(r.reweighedNetG)],
  ['deviationKg', (r) => kg(r.deviationG)], ['toleranceState', (r) => r.toleranceState], ['mustDecant', (r) => r.mustDecant],
  ['startedAt', (r) => r.startedAt], ['endedAt', (r) => r.endedAt], ['durationMs', (r) => r.durationMs],
  ['preFillCheck', (r) => checkOk(r.preFillCheck)], ['postFillCheck', (r) => checkOk(r.postFillCheck)],
  ['trips', (r) => r.trips.map((t) => t.code).join(';')], ['refusals', (r) => r.refusals.map((x) => x.code).join(';')],
  ['fillCount', (r) => r.fillCount], ['lastFillAt', (r) => r.lastFillAt], ['nextInspectionDue', (r) => r.nextInspectionDue],
  ['clockJumpMs', (r) => r.clockJumpMs], ['prevHash', (r) => r.prevHash], ['sig', (r) => r.sig],
];

/** RFC 4180 cell; text that a spreadsheet would run as a formula (=,+,-,@) is prefixed with ' (codes come from scanned QR text). */
export function csvCell(v: string | number | boolean | undefined): string {
  if (v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export const csvHeader = (): string => CSV_COLUMNS.map(([name]) => name).join(',');
export const csvRow = (r: FillRecordV1): string => CSV_COLUMNS.map(([, get]) => csvCell(get(r))).join(',');

export function recordsToCsv(records: FillRecordV1[]): string {
  const lines = [csvHeader()];
  for (const r of records) lines.push(csvRow(r));
  return lines.join('\r\n') + '\r\n';
}
