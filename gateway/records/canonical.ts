/**
 * Canonical serialisation of fill records: the exact bytes that are hashed and
 * signed. Rules (docs/record-format.md "Canonical form"):
 * - object keys sorted by UTF-16 code unit order (plain `sort()`), at every depth;
 * - no whitespace; strings escaped as JSON.stringify does;
 * - keys whose value is `undefined` are left out (absent, never `null`);
 * - numbers must be safe integers. Masses are integer grams and durations
 *   integer milliseconds, so no float is ever formatted and two
 *   implementations cannot disagree on "11.1" vs "11.100000000000001".
 * For this subset the output equals RFC 8785 (JCS), so a regulator can use any
 * JCS library to reproduce the bytes.
 */
import { createHash } from 'node:crypto';
import { FillgateError } from '../../protocols/errors.ts';

export type Canonical = string | number | boolean | null | Canonical[] | { [key: string]: Canonical | undefined };

export function canonicalJson(value: unknown): string {
  try {
    return write(value);
  } catch (err) {
    if (err instanceof BadValue) throw describeBad(err);
    throw err;
  }
}

// The path of a bad value is built only when one is found (building it for
// every key made serialisation several times slower).
class BadValue extends Error {
  constructor(readonly path: string[], readonly value: unknown) {
    super('bad value');
  }
}

function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new BadValue([], value);
      return Object.is(value, -0) ? '0' : String(value);
    case 'object':
      return Array.isArray(value) ? writeArray(value) : writeObject(value as Record<string, unknown>);
    default:
      throw new BadValue([], value);
  }
}

function writeArray(arr: unknown[]): string {
  let out = '[';
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) out += ',';
    out += within(String(i), arr[i]);
  }
  return out + ']';
}

function writeObject(obj: Record<string, unknown>): string {
  let out = '{';
  let first = true;
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + within(key, v);
    first = false;
  }
  return out + '}';
}

function within(key: string, v: unknown): string {
  try {
    return write(v);
  } catch (err) {
    if (err instanceof BadValue) err.path.unshift(key);
    throw err;
  }
}

function describeBad(err: BadValue): FillgateError {
  const path = '$' + err.path.map((k) => (/^\d+$/.test(k) ? `[${k}]` : `.${k}`)).join('');
  const what = typeof err.value === 'number' ? `${err.value} is not a safe integer (records carry grams and milliseconds as integers)` : `a ${typeof err.value} cannot be serialised`;
  return new FillgateError('BAD_PAYLOAD', `${path}: ${what}`, { path, value: String(err.value) });
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The prevHash of a station's first record. */
export const GENESIS_HASH = '0'.repeat(64);
