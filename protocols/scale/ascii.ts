/**
 * Generic ASCII line output of weighing indicators, e.g. `ST,GS,+0012.34kg`
 * (status, mode, signed value, unit), one reading per CR / LF / CR LF line.
 *
 * The line is matched against `pattern`, a JavaScript regular expression
 * source with named groups:
 *   value  (required) digits with an optional decimal point, e.g. `0012.34`; anything
 *          else (e.g. `----.--` of an overloaded indicator) is not a number
 *   sign   `+` / `-` (absent = positive)
 *   status compared with the `stable` / `unstable` / `overload` lists (absent = no
 *          stability on the wire: `stable` is false and the driver derives it)
 *   mode   compared with the `gross` / `net` lists (absent = gross)
 *   unit   kg, g, t, lb, oz, case-insensitive (absent = `defaultUnit`)
 * Example for XK3190-A12 lines `ww000.000kg` / `wn-0000.1kg` (devices.md 3.4):
 *   { pattern: '^w(?<mode>[wn])(?<sign>[+-])?(?<value>[0-9.]+)(?<unit>kg|lb)$', gross: ['w'], net: ['n'], decimals: 3 }
 *   (its `wt…` tare lines do not match and are discarded with the reason).
 * A line that does not match, or whose status, mode or unit is not listed,
 * is discarded with the reason: never guessed into a weight.
 *
 * A line cut short (a dropped byte run, a device server flushing half a line,
 * then CR LF) must not read as a smaller weight: `ST,GS,+001` is not 1 kg and
 * `+0016.5` is not 16.5 kg when 16.52 was sent (issue 12 point 10). So the
 * fields are required as configured: the unit whenever the pattern has a unit
 * group (and equal to `unit` when that is set), exactly `decimals` digits after
 * the point (0 = no point) and a value field exactly `width` characters wide
 * (digits, point and leading pad spaces; the sign is not counted). The default
 * pattern's layout is `+0012.34kg`: decimals 2, width 7. With a custom pattern
 * they are checked when given; a pattern that fixes the widths itself
 * (`(?<value>\d{3}\.\d{3})`) needs neither.
 */
import { FillgateError } from '../errors.ts';
import type { Framed, StreamDecoder } from '../framing.ts';
import { lineDecoder } from '../line.ts';
import type { ScaleReading } from './types.ts';

export const DEFAULT_ASCII_PATTERN =
  '^\\s*(?<status>[A-Z]{2})\\s*,\\s*(?<mode>[A-Z]{2})\\s*,\\s*(?<sign>[+-])?(?<value>[^A-Za-z,]*?)\\s*(?<unit>[A-Za-z]+)?\\s*$';

export interface AsciiOptions {
  /** Regex source with named groups (see above). Default matches `ST,GS,+0012.34kg`. */
  pattern?: string;
  /** Regex flags. Default none. */
  flags?: string;
  stable?: string[];
  unstable?: string[];
  overload?: string[];
  gross?: string[];
  net?: string[];
  defaultUnit?: string;
  maxLineLength?: number;
  /** Digits after the point, required on decoding (0 = no point). Default 2 with the default pattern. */
  decimals?: number;
  /** Characters of the value field (digits, point, leading pad spaces; not the sign), required on decoding. Default 7 with the default pattern. */
  width?: number;
  /** The unit the indicator is set to (kg, g, t, lb, oz); a line in another unit is refused. Default: any known unit. */
  unit?: string;
  /** Encoding only: line end (default CR LF). */
  terminator?: string;
}

/** The field layout a decoder requires: the configured one, or the default pattern's `+0012.34kg`. */
function layoutOf(opts: AsciiOptions): { decimals?: number; width?: number; unitRequired: boolean } {
  const source = opts.pattern ?? DEFAULT_ASCII_PATTERN;
  const byDefault = opts.pattern === undefined;
  return {
    decimals: opts.decimals ?? (byDefault ? 2 : undefined),
    width: opts.width ?? (byDefault ? 7 : undefined),
    unitRequired: source.includes('(?<unit>'),
  };
}

const KG_PER: Record<string, number> = { kg: 1, g: 0.001, t: 1000, lb: 0.45359237, oz: 0.028349523125 };

function compile(opts: AsciiOptions): RegExp {
  const source = opts.pattern ?? DEFAULT_ASCII_PATTERN;
  if (!source.includes('(?<value>')) throw new FillgateError('BAD_CONFIG', 'ascii scale pattern needs a named group "value"', { pattern: source });
  try {
    return new RegExp(source, opts.flags ?? '');
  } catch (err) {
    throw new FillgateError('BAD_CONFIG', `ascii scale pattern is not a valid regular expression: ${(err as Error).message}`, { pattern: source });
  }
}

/** True when the configured pattern carries a stability status (else the driver derives stability). */
export function asciiReportsStability(opts: AsciiOptions = {}): boolean {
  return (opts.pattern ?? DEFAULT_ASCII_PATTERN).includes('(?<status>');
}

/** Parse one line; a reading or the reason it is not one. */
export function parseAsciiLine(line: string, re: RegExp, opts: AsciiOptions = {}): { ok: ScaleReading } | { error: string } {
  const m = re.exec(line);
  if (!m?.groups) return { error: 'line does not match the scale pattern' };
  const { status, mode, sign, value, unit } = m.groups;
  let stable = false;
  let overload = false;
  if (status !== undefined) {
    if ((opts.overload ?? ['OL']).includes(status)) overload = true;
    else if ((opts.stable ?? ['ST']).includes(status)) stable = true;
    else if (!(opts.unstable ?? ['US']).includes(status)) return { error: `unknown status "${status}"` };
  }
  let net = false;
  if (mode !== undefined) {
    if ((opts.net ?? ['NT', 'NET', 'N']).includes(mode)) net = true;
    else if (!(opts.gross ?? ['GS', 'GROSS', 'G']).includes(mode)) return { error: `unknown mode "${mode}"` };
  }
  const layout = layoutOf(opts);
  if (unit === undefined && layout.unitRequired) return { error: 'no unit: line cut short?' };
  const unitName = (unit ?? opts.defaultUnit ?? 'kg').toLowerCase();
  const perUnit = KG_PER[unitName];
  if (perUnit === undefined) return { error: `unknown unit "${unit}"` };
  if (opts.unit !== undefined && unitName !== opts.unit.toLowerCase()) return { error: `unit "${unit}" is not the configured ${opts.unit}` };
  const raw = value ?? '';
  const text = raw.trim();
  const magnitude = /^(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(magnitude)) {
    // An overloaded indicator often prints no number at all; the flag is what matters.
    if (overload) return { ok: { weightKg: 0, stable: false, overload: true, net } };
    return { error: `value "${raw}" is not a number` };
  }
  const point = text.indexOf('.');
  const decimals = point < 0 ? 0 : text.length - point - 1;
  if (layout.decimals !== undefined && decimals !== layout.decimals) {
    return { error: `value "${raw}" has ${decimals} decimals, the scale sends ${layout.decimals}: line cut short?` };
  }
  const width = raw.replace(/\s+$/, '').length;
  if (layout.width !== undefined && width !== layout.width) {
    return { error: `value field "${raw}" has width ${width}, the scale sends ${layout.width}: line cut short?` };
  }
  const kg = Math.round(magnitude * perUnit * 1e9) / 1e9;
  const weightKg = kg === 0 ? 0 : sign === '-' ? -kg : kg;
  return { ok: { weightKg, stable: stable && !overload, overload, net } };
}

export function asciiDecoder(opts: AsciiOptions = {}): StreamDecoder<ScaleReading> {
  const re = compile(opts);
  const lines = lineDecoder({ maxLength: opts.maxLineLength ?? 64, encoding: 'latin1' });
  return {
    push(chunk: Buffer): Framed<ScaleReading>[] {
      return lines.push(chunk).map((f): Framed<ScaleReading> => {
        if (f.kind === 'discarded') return f;
        const parsed = parseAsciiLine(f.frame, re, opts);
        return 'ok' in parsed
          ? { kind: 'frame', frame: parsed.ok, bytes: f.bytes }
          : { kind: 'discarded', bytes: f.bytes, reason: parsed.error };
      });
    },
    reset: () => lines.reset(),
    pending: () => lines.pending(),
  };
}

/** Encode in the default layout `ST,GS,+0012.34kg\r\n` (a custom `pattern` does not change the encoding). */
export function encodeAscii(r: ScaleReading, opts: AsciiOptions = {}): Buffer {
  const decimals = opts.decimals ?? 2;
  const width = opts.width ?? 7;
  const status = r.overload ? (opts.overload?.[0] ?? 'OL') : r.stable ? (opts.stable?.[0] ?? 'ST') : (opts.unstable?.[0] ?? 'US');
  const mode = r.net ? (opts.net?.[0] ?? 'NT') : (opts.gross?.[0] ?? 'GS');
  const text = Math.abs(r.weightKg).toFixed(decimals);
  const sign = r.weightKg < 0 && Number(text) !== 0 ? '-' : '+';
  return Buffer.from(`${status},${mode},${sign}${text.padStart(width, '0')}kg${opts.terminator ?? '\r\n'}`, 'latin1');
}
