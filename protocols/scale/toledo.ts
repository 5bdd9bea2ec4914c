/**
 * Mettler Toledo standard continuous output, devices.md 2.1 (WILDCAT technical
 * manual App. 2, Tables 6-8..6-11; same layout in IND445, Kern FTC, Liden LUW2001,
 * Cardinal 225 "8530" format, Rockwell 57C428):
 *
 *   STX SWA SWB SWC  w w w w w w  t t t t t t  CR  [CHK]     17 bytes, 18 with checksum
 *
 * SWA b2-0 decimal code (000 = XXXX00 … 010 = XXXXXX, 011 = XXXXX.X … 111 = X.XXXXX),
 *     b4-3 increment size, b5 = 1, b6 = 0.
 * SWB b0 net, b1 negative, b2 out of range, b3 motion, b4 kg (0 = lb), b5 = 1, b6 power-up not zeroed.
 * SWC b0 grams (Ohaus: b2-0 unit code 000 lb/kg per SWB, 001 g, 010 t, 011 oz, 111 none), b3 print, b4 ×10.
 * CHK = two's complement of the low 7 bits of the sum of all bytes before it, STX and CR included.
 *
 * Tolerances (devices.md 2.1 "Variants"): bit 7 of every byte is masked (a 7E1
 * line read as 8N1 leaves parity there); the "always 1 / always 0" bits are never
 * checked (Fairbanks sends SWB b5 = 0); leading spaces in digit fields read as 0.
 * The Cardinal "SHORT" variant without the tare field is `{ tare: false }`.
 *
 * Decimal position and unit are locked (issue 12 point 11): without the checksum one
 * flipped bit in SWA moves the decimal point (93040.7 → 93.0407 kg) and one in SWB/SWC
 * changes the unit. A frame whose decimal code or unit differs from the configured
 * `decimals` / `unit` is discarded; unconfigured, from the first frame's, unless
 * `RELOCK_FRAMES` frames in a row agree on the new one (the indicator was set up anew:
 * a bit flip does not repeat itself). Turn the checksum on where the indicator has it.
 *
 * Dummy zeros (codes 000, 001): we read the six digits as the significant
 * digits and multiply by 100 / 10. [unverified against a device] Irrelevant for
 * cylinder scales, which show kg with decimals.
 */
import { FillgateError } from '../errors.ts';
import { fixedFrameDecoder, type StreamDecoder } from '../framing.ts';
import type { ScaleReading } from './types.ts';

const STX = 0x02;
const CR = 0x0d;

export interface ToledoOptions {
  /** An 18th byte, the checksum, follows CR. Default false (WILDCAT default). */
  checksum?: boolean;
  /** Frame carries the 6 tare digits. Default true; false = Cardinal "SHORT" format. */
  tare?: boolean;
  /** Decimal places the indicator shows, 0-5; decoding refuses frames with another. Encoding default 2 (XXXX.XX). */
  decimals?: number;
  /** Unit the indicator is set to (kg, lb, g, t, oz); decoding refuses frames in another. */
  unit?: string;
}

export type ToledoEncodeOptions = ToledoOptions;

/** Consecutive frames that must agree on a new decimal position or unit when none is configured. */
export const RELOCK_FRAMES = 5;

/** kg per unit for the unit codes of SWC b2-0 (and SWB b4 when that code is 000). */
const KG_PER: Record<string, number> = { kg: 1, lb: 0.45359237, g: 0.001, t: 1000, oz: 0.028349523125 };

function layout(opts: ToledoOptions) {
  const tare = opts.tare ?? true;
  const crAt = tare ? 16 : 10;
  return { tare, crAt, length: crAt + 1 + (opts.checksum ? 1 : 0) };
}

export function toledoChecksum(bytes: Buffer, end = bytes.length): number {
  let sum = 0;
  for (let i = 0; i < end; i++) sum += bytes[i] & 0x7f;
  return -sum & 0x7f;
}

/** Scale factor from SWA b2-0: 000 = ×100 (XXXX00) … 010 = ×1 … 111 = ÷100000. */
function scaleOf(code: number): number {
  return 10 ** (2 - code);
}

function unitOf(swb: number, swc: number): string | undefined {
  switch (swc & 0x07) {
    case 0: return swb & 0x10 ? 'kg' : 'lb';
    case 1: return 'g';
    case 2: return 't';
    case 3: return 'oz';
    default: return undefined;
  }
}

function digitsOf(frame: Buffer, from: number): number {
  let v = 0;
  for (let i = from; i < from + 6; i++) {
    const b = frame[i] & 0x7f;
    v = v * 10 + (b === 0x20 ? 0 : b - 0x30);
  }
  return v;
}

export function toledoDecoder(opts: ToledoOptions = {}): StreamDecoder<ScaleReading> {
  const { tare, crAt, length } = layout(opts);
  const checkByte = (raw: number, i: number): string | undefined => {
    const b = raw & 0x7f;
    if (i >= 4 && i < crAt) return (b >= 0x30 && b <= 0x39) || b === 0x20 ? undefined : 'digit is not 0-9 or space';
    if (i === crAt) return b === CR ? undefined : `no CR at byte ${crAt + 1}`;
    return undefined;
  };
  // Decimal code and unit: configured, or the first frame's; `next` counts frames agreeing on a change.
  const wanted = opts.decimals === undefined ? undefined : opts.decimals + 2;
  let lock: { code: number; unit: string } | undefined;
  let next: { code: number; unit: string; count: number } | undefined;
  const locked = (code: number, unit: string): string | undefined => {
    if (wanted !== undefined && code !== wanted) return `decimal code ${code} is not the configured ${opts.decimals} decimals: a bit flip, or set formatOptions.decimals`;
    if (opts.unit !== undefined && unit !== opts.unit.toLowerCase()) return `unit ${unit} is not the configured ${opts.unit}: a bit flip, or set formatOptions.unit`;
    if (!lock || (lock.code === code && lock.unit === unit)) {
      lock = { code, unit };
      next = undefined;
      return undefined;
    }
    next = next && next.code === code && next.unit === unit ? { ...next, count: next.count + 1 } : { code, unit, count: 1 };
    if (next.count >= RELOCK_FRAMES) {
      lock = { code, unit };
      next = undefined;
      return undefined;
    }
    return lock.code !== code ? `decimal code changed from ${lock.code} to ${code} (bit flip?)` : `unit changed from ${lock.unit} to ${unit} (bit flip?)`;
  };
  const parse = (frame: Buffer): { ok: ScaleReading } | { error: string } => {
    if (opts.checksum) {
      const want = toledoChecksum(frame, length - 1);
      const got = frame[length - 1] & 0x7f;
      if (want !== got) return { error: `checksum mismatch: frame says ${got.toString(16)}, computed ${want.toString(16)}` };
    }
    const swa = frame[1] & 0x7f;
    const swb = frame[2] & 0x7f;
    const swc = frame[3] & 0x7f;
    const unit = unitOf(swb, swc);
    if (!unit) return { error: `SWC unit code ${swc & 0x07} is not a mass unit` };
    const changed = locked(swa & 0x07, unit);
    if (changed) return { error: changed };
    const toKg = scaleOf(swa & 0x07) * KG_PER[unit];
    const sign = swb & 0x02 ? -1 : 1;
    const magnitude = digitsOf(frame, 4);
    const reading: ScaleReading = {
      weightKg: magnitude === 0 ? 0 : roundKg(sign * magnitude * toKg),
      stable: (swb & 0x08) === 0,
      overload: (swb & 0x04) !== 0,
      net: (swb & 0x01) !== 0,
    };
    if (tare) reading.tareKg = roundKg(digitsOf(frame, 10) * toKg);
    return { ok: reading };
  };
  return fixedFrameDecoder<ScaleReading>({ isStart: (b) => (b & 0x7f) === STX, length, checkByte, parse });
}

/** Drop binary floating-point noise (12.340000000001) while keeping every division a scale can show. */
function roundKg(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}

/**
 * Encode a reading as a Toledo indicator sends it (kg, increment ×1, always-bits
 * as Mettler sets them). Throws a FillgateError (BAD_PAYLOAD) when a value does not fit six digits.
 */
export function encodeToledo(r: ScaleReading, opts: ToledoEncodeOptions = {}): Buffer {
  const decimals = opts.decimals ?? 2;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 5) throw new FillgateError('BAD_CONFIG', `Toledo decimals must be 0-5, got ${decimals}`);
  const { tare, crAt, length } = layout(opts);
  const six = (kg: number, what: string) => {
    const n = Math.round(Math.abs(kg) * 10 ** decimals);
    if (!Number.isFinite(n) || n > 999_999) throw new FillgateError('BAD_PAYLOAD', `Toledo ${what} ${kg} does not fit 6 digits at ${decimals} decimals`);
    return String(n).padStart(6, '0');
  };
  const frame = Buffer.alloc(length);
  frame[0] = STX;
  frame[1] = 0x20 | 0x08 | (decimals + 2); // b5 always 1, increment ×1, decimal code
  const negative = r.weightKg < 0 && Math.round(Math.abs(r.weightKg) * 10 ** decimals) !== 0;
  frame[2] = 0x20 | 0x10 | (r.net ? 0x01 : 0) | (negative ? 0x02 : 0) | (r.overload ? 0x04 : 0) | (r.stable ? 0 : 0x08);
  frame[3] = 0x20;
  frame.write(six(r.weightKg, 'weight'), 4, 'latin1');
  if (tare) frame.write(six(r.tareKg ?? 0, 'tare'), 10, 'latin1');
  frame[crAt] = CR;
  if (opts.checksum) frame[length - 1] = toledoChecksum(frame, length - 1);
  return frame;
}
