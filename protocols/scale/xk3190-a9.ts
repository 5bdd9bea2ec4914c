/**
 * Yaohua XK3190-A9 continuous output (tF = 0), devices.md 3.1, domain.md 4.
 *
 *   STX  sign  d d d d d d  dp  XH  XL  ETX        (12 bytes)
 *   02   +/-   6 ASCII digits, high first, no point   03
 *
 * dp = number of decimal places ('0'..'4'); XH/XL = high/low nibble of the XOR
 * of bytes 2..9 (sign, digits, dp). Yaohua manuals send nibble + 0x30 (0xB → ';'),
 * the public protocol note shows ASCII hex (0xB → 'B'); we accept both and
 * send nibble + 0x30, as the indicator itself does.
 *
 * Checked by hand: domain.md's example `\x02+023960015\x03` is sign '+',
 * digits 023960, dp '0', check '1' '5'. XOR of "+0239600" = 0x15, so its check
 * characters are right (both encodings agree for nibbles below 10). It reads
 * 23960 kg (a weighbridge value, not a cylinder). devices.md's +20.00 example
 * "+0020002" has XOR 0x1B: '1' then 'B' (doc) or ';' (Yaohua).
 *
 * Stability: the A9 frame has no motion or overload flag, so this codec
 * reports `stable: false` and `overload: false` always, and says so through
 * `reportsStability = false`. The stream driver derives stability from
 * repeated equal readings instead (devices/scale/stream-scale.ts).
 */
import { FillgateError } from '../errors.ts';
import { fixedFrameDecoder, type StreamDecoder } from '../framing.ts';
import type { ScaleReading } from './types.ts';

const STX = 0x02;
const ETX = 0x03;
export const A9_FRAME_LENGTH = 12;

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

function xorCheck(frame: Buffer): number {
  let x = 0;
  for (let i = 1; i <= 8; i++) x ^= frame[i];
  return x;
}

/** A check character's nibble: '0'..'?' (nibble + 0x30) or ASCII hex 'A'..'F' / 'a'..'f'. */
function nibbleOf(b: number): number | undefined {
  if (b >= 0x30 && b <= 0x3f) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return undefined;
}

function checkByte(b: number, i: number): string | undefined {
  if (i === 1) return b === 0x2b || b === 0x2d ? undefined : 'sign is not + or -';
  if (i >= 2 && i <= 7) return isDigit(b) ? undefined : 'weight digit is not 0-9';
  if (i === 8) return b >= 0x30 && b <= 0x34 ? undefined : 'decimal places not 0-4';
  if (i === 9 || i === 10) return nibbleOf(b) === undefined ? 'check character is not a nibble' : undefined;
  if (i === 11) return b === ETX ? undefined : 'no ETX at byte 12';
  return undefined;
}

function parseA9(frame: Buffer): { ok: ScaleReading } | { error: string } {
  const want = xorCheck(frame);
  const got = (nibbleOf(frame[9])! << 4) | nibbleOf(frame[10])!;
  if (want !== got) return { error: `XOR check mismatch: frame says ${got.toString(16)}, computed ${want.toString(16)}` };
  const digits = Number(frame.toString('latin1', 2, 8));
  const dp = frame[8] - 0x30;
  const sign = frame[1] === 0x2d ? -1 : 1;
  // Avoid -0 for a negative-signed zero.
  const weightKg = digits === 0 ? 0 : (sign * digits) / 10 ** dp;
  return { ok: { weightKg, stable: false, overload: false } };
}

export function a9Decoder(): StreamDecoder<ScaleReading> {
  return fixedFrameDecoder<ScaleReading>({
    isStart: (b) => b === STX,
    length: A9_FRAME_LENGTH,
    checkByte,
    parse: parseA9,
  });
}

/**
 * Encode a weight as the indicator sends it. Throws a FillgateError (BAD_PAYLOAD) when the value
 * does not fit six digits at the given decimals (the indicator would show overload).
 */
export function encodeA9(weightKg: number, decimals: number): Buffer {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 4) throw new FillgateError('BAD_CONFIG', `A9 decimals must be 0-4, got ${decimals}`);
  const scaled = Math.round(Math.abs(weightKg) * 10 ** decimals);
  if (!Number.isFinite(scaled) || scaled > 999_999) throw new FillgateError('BAD_PAYLOAD', `A9 weight ${weightKg} does not fit 6 digits at ${decimals} decimals`);
  const body = `${weightKg < 0 && scaled !== 0 ? '-' : '+'}${String(scaled).padStart(6, '0')}${decimals}`;
  const frame = Buffer.alloc(A9_FRAME_LENGTH);
  frame[0] = STX;
  frame.write(body, 1, 'latin1');
  const x = xorCheck(frame);
  frame[9] = 0x30 + (x >> 4);
  frame[10] = 0x30 + (x & 0x0f);
  frame[11] = ETX;
  return frame;
}
