/**
 * Turns an import file (CSV or JSON) into raw rows keyed by field name, with
 * each row's number, before any field is validated. Problems with the file as
 * a whole (bad JSON, an unclosed quote, a missing required column) are issues
 * on row 0.
 */
import { headerKey, parseCsv } from './csv.ts';

export type ImportFormat = 'csv' | 'json';

export interface ImportIssue {
  /** 1-based data row (CSV: records after the header; JSON: array index + 1). 0 = the file itself. */
  row: number;
  /** CSV only: the physical line the row starts on. */
  line?: number;
  /** The row's cylinder code or operator badge, when it has one. */
  key?: string;
  field?: string;
  severity: 'error' | 'warning';
  message: string;
}

export interface RawRow {
  row: number;
  line?: number;
  values: Record<string, unknown>;
}

export interface RawFile {
  rows: RawRow[];
  issues: ImportIssue[];
}

const fileError = (message: string): RawFile => ({ rows: [], issues: [{ row: 0, severity: 'error', message }] });

/**
 * @param fields the known field names (camelCase); headers and JSON keys match them loosely (headerKey).
 * @param required fields whose column must exist in a CSV header.
 * @param listKey JSON may be an array or an object holding the array under this key.
 */
export function readRows(text: string, format: ImportFormat, fields: readonly string[], required: readonly string[], listKey: string): RawFile {
  const byKey = new Map(fields.map((f) => [headerKey(f), f]));
  if (format === 'csv') return readCsvRows(text, byKey, required);
  if (format === 'json') return readJsonRows(text, byKey, listKey);
  return fileError(`unknown format "${String(format)}": use csv or json`);
}

function readCsvRows(text: string, byKey: Map<string, string>, required: readonly string[]): RawFile {
  const parsed = parseCsv(text);
  if (!parsed.ok) return { rows: [], issues: [{ row: 0, line: parsed.line, severity: 'error', message: `CSV: ${parsed.error}` }] };
  const [header, ...data] = parsed.records;
  if (!header) return fileError('the file is empty: a header row is needed');
  const issues: ImportIssue[] = [];
  const columns = header.fields.map((h) => byKey.get(headerKey(h)));
  const unknown = header.fields.filter((_, i) => columns[i] === undefined && header.fields[i] !== '');
  if (unknown.length) issues.push({ row: 0, line: header.line, severity: 'warning', message: `unknown columns ignored: ${unknown.join(', ')}` });
  const seen = new Set<string>();
  for (const [i, c] of columns.entries()) {
    if (!c) continue;
    if (seen.has(c)) issues.push({ row: 0, line: header.line, field: c, severity: 'error', message: `column ${header.fields[i]} appears twice` });
    seen.add(c);
  }
  const missing = required.filter((f) => !seen.has(f));
  if (missing.length) issues.push({ row: 0, line: header.line, severity: 'error', message: `required columns missing: ${missing.join(', ')}` });
  if (issues.some((x) => x.severity === 'error')) return { rows: [], issues };

  const rows = data.map((rec, i): RawRow => {
    const values: Record<string, unknown> = {};
    columns.forEach((c, j) => {
      if (c && rec.fields[j] !== undefined && rec.fields[j] !== '') values[c] = rec.fields[j];
    });
    if (rec.fields.length > columns.length) values.__extraFields = rec.fields.length - columns.length;
    return { row: i + 1, line: rec.line, values };
  });
  return { rows, issues };
}

function readJsonRows(text: string, byKey: Map<string, string>, listKey: string): RawFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    return fileError(`JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as Record<string, unknown> | null)?.[listKey];
  if (!Array.isArray(list)) return fileError(`JSON: expected an array, or an object with an array "${listKey}"`);
  const issues: ImportIssue[] = [];
  const unknown = new Set<string>();
  const rows = list.map((item, i): RawRow => {
    const values: Record<string, unknown> = {};
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      values.__notObject = true;
      return { row: i + 1, values };
    }
    for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
      const f = byKey.get(headerKey(k));
      if (!f) unknown.add(k);
      else if (v !== null && v !== undefined && v !== '') values[f] = v;
    }
    return { row: i + 1, values };
  });
  if (unknown.size) issues.push({ row: 0, severity: 'warning', message: `unknown fields ignored: ${[...unknown].join(', ')}` });
  return { rows, issues };
}
