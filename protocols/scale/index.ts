/**
 * The stream scale formats in one place: adding a format is one codec file
 * plus one case here (engineering.md example 12).
 */
import { FillgateError } from '../errors.ts';
import type { StreamDecoder } from '../framing.ts';
import { asciiDecoder, asciiReportsStability, encodeAscii, type AsciiOptions } from './ascii.ts';
import { encodeToledo, toledoDecoder, type ToledoEncodeOptions } from './toledo.ts';
import type { ScaleReading } from './types.ts';
import { a9Decoder, encodeA9 } from './xk3190-a9.ts';

export type { ScaleReading } from './types.ts';
export type ScaleFormat = 'xk3190-a9' | 'toledo' | 'ascii';
export const SCALE_FORMATS: readonly ScaleFormat[] = ['xk3190-a9', 'toledo', 'ascii'];

/** Options per format: A9 `{ decimals }` (encoding only), Toledo `{ checksum, tare, decimals }`, ASCII see ascii.ts. */
export type ScaleFormatOptions = { decimals?: number } & ToledoEncodeOptions & AsciiOptions;

export interface ScaleCodec {
  format: ScaleFormat;
  decoder(): StreamDecoder<ScaleReading>;
  encode(r: ScaleReading): Buffer;
  /** Whether frames carry a motion flag. When false, `stable` in readings is always false. */
  reportsStability: boolean;
  /**
   * Whether every frame carries a check character (A9's XOR, Toledo's checksum when on). Without
   * one a single flipped bit can set or clear a flag unnoticed (issue 12 point 11).
   */
  checked: boolean;
}

export function scaleCodec(format: ScaleFormat, opts: ScaleFormatOptions = {}): ScaleCodec {
  switch (format) {
    case 'xk3190-a9':
      return { format, decoder: a9Decoder, encode: (r) => encodeA9(r.weightKg, opts.decimals ?? 2), reportsStability: false, checked: true };
    case 'toledo':
      return { format, decoder: () => toledoDecoder(opts), encode: (r) => encodeToledo(r, opts), reportsStability: true, checked: opts.checksum === true };
    case 'ascii':
      asciiDecoder(opts); // validate the pattern now, not on the first byte
      return { format, decoder: () => asciiDecoder(opts), encode: (r) => encodeAscii(r, opts), reportsStability: asciiReportsStability(opts), checked: false };
    default:
      throw new FillgateError('BAD_CONFIG', `unknown scale format ${String(format)}`);
  }
}
