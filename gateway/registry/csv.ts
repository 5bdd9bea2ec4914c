/**
 * A small RFC 4180 CSV reader for registry imports: header row, quoted fields
 * with "" escapes and embedded commas or line breaks, CRLF or LF, a UTF-8 BOM
 * (Excel writes one). Blank lines are skipped. Unquoted fields are trimmed.
 */

export interface CsvRecord {
  /** 1-based physical line on which the record starts (what a spreadsheet user sees). */
  line: number;
  fields: string[];
}

export type CsvResult = { ok: true; records: CsvRecord[] } | { ok: false; line: number; error: string };

export function parseCsv(text: string): CsvResult {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false; // the current field was quoted (keep its spaces)
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;

  const endField = () => {
    fields.push(quoted ? field : field.trim());
    field = '';
    quoted = false;
  };
  const endRecord = () => {
    endField();
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
    fields = [];
  };

  while (i < src.length) {
    const c = src[i];
    if (inQuotes) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        inQuotes = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field.trim() !== '') return { ok: false, line, error: 'a quote inside an unquoted field' };
      field = '';
      inQuotes = true;
      quoted = true;
      i++;
    } else if (c === ',') {
      endField();
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && src[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else {
      if (quoted) {
        // Only spaces may follow a closing quote; they are not part of the value.
        if (c.trim() !== '') return { ok: false, line, error: 'text after a closing quote' };
      } else {
        field += c;
      }
      i++;
    }
  }
  if (inQuotes) return { ok: false, line: recordLine, error: 'a quoted field is never closed' };
  endRecord();
  return { ok: true, records };
}

/** Header names compare without case, spaces, '_' or '-': "Tare_kg" matches tareKg. */
export function headerKey(name: string): string {
  return name.replace(/[\s_-]+/g, '').toLowerCase();
}
