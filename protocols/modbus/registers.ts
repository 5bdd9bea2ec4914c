/**
 * Pure codecs between numbers and Modbus 16-bit registers. Used by the scale
 * driver and by the simulator, so both sides agree on one definition.
 *
 * Modbus itself only defines 16-bit registers sent high byte first (Modbus
 * Application Protocol v1.1b3, section 4.2 "big-endian"). 32-bit values span two
 * registers and the word order is the device's choice: PR 5410 sends the high
 * word first (devices.md 1.4), Líder LD2051 the low word first (devices.md 1.7),
 * IND570 offers Standard / Byte Swap / Word Swap / Double Word Swap (devices.md
 * 1.1). `wordOrder` plus `byteSwap` cover all four of those.
 */
import { FillgateError } from '../errors.ts';

export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32';

/** 'big' = high word first (Modicon default), 'little' = low word first. */
export type WordOrder = 'big' | 'little';

export interface RegisterFormat {
  type: RegisterType;
  /** Order of the 16-bit words of a 32-bit value; default 'big'. Ignored for 16-bit types. */
  wordOrder?: WordOrder;
  /** Swap the two bytes inside every register (IND570 "Byte Swap"); default false. */
  byteSwap?: boolean;
}

export const registerTypes: readonly RegisterType[] = ['int16', 'uint16', 'int32', 'uint32', 'float32'];

/** Number of 16-bit registers a value of this type occupies. */
export function registerCount(type: RegisterType): 1 | 2 {
  switch (type) {
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    default:
      throw new FillgateError('BAD_CONFIG', `unknown register type ${String(type)}`, { type });
  }
}

const swapBytes = (word: number): number => ((word & 0xff) << 8) | ((word >> 8) & 0xff);

const integerRange: Record<Exclude<RegisterType, 'float32'>, [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

/** Encode a number into registers in wire order. Throws BAD_PAYLOAD for values the type cannot hold. */
export function encodeValue(value: number, fmt: RegisterFormat): number[] {
  const count = registerCount(fmt.type);
  const view = new DataView(new ArrayBuffer(4));
  if (fmt.type === 'float32') {
    if (Number.isNaN(value)) throw badValue(value, fmt, 'NaN');
    view.setFloat32(0, value, false);
  } else {
    const [min, max] = integerRange[fmt.type];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw badValue(value, fmt, `not an integer in ${min}..${max}`);
    }
    // Two's complement into the low `count` words, high word first.
    if (count === 1) view.setUint16(0, value & 0xffff, false);
    else view.setUint32(0, value >>> 0, false);
  }
  const words = count === 1 ? [view.getUint16(0, false)] : [view.getUint16(0, false), view.getUint16(2, false)];
  return toWireOrder(words, fmt);
}

/** Decode the first registerCount(type) registers (wire order) into a number. */
export function decodeValue(regs: readonly number[], fmt: RegisterFormat): number {
  const count = registerCount(fmt.type);
  if (regs.length < count) {
    throw new FillgateError('BAD_PAYLOAD', `${fmt.type} needs ${count} registers, got ${regs.length}`, {
      type: fmt.type,
      got: regs.length,
    });
  }
  const raw = regs.slice(0, count);
  for (const r of raw) {
    if (!Number.isInteger(r) || r < 0 || r > 0xffff) {
      throw new FillgateError('BAD_PAYLOAD', `register value ${r} is not a 16-bit word`, { value: r });
    }
  }
  const words = fromWireOrder(raw, fmt);
  const view = new DataView(new ArrayBuffer(4));
  view.setUint16(0, words[0]!, false);
  if (count === 2) view.setUint16(2, words[1]!, false);
  switch (fmt.type) {
    case 'int16':
      return view.getInt16(0, false);
    case 'uint16':
      return view.getUint16(0, false);
    case 'int32':
      return view.getInt32(0, false);
    case 'uint32':
      return view.getUint32(0, false);
    case 'float32':
      return view.getFloat32(0, false);
  }
}

/** Words are given high first; returns them as the device puts them on the wire. */
function toWireOrder(words: number[], fmt: RegisterFormat): number[] {
  let out = words.length === 2 && fmt.wordOrder === 'little' ? [words[1]!, words[0]!] : words;
  if (fmt.byteSwap) out = out.map(swapBytes);
  return out;
}

/** Inverse of toWireOrder (both steps are their own inverse). */
function fromWireOrder(words: number[], fmt: RegisterFormat): number[] {
  let out = fmt.byteSwap ? words.map(swapBytes) : words;
  if (out.length === 2 && fmt.wordOrder === 'little') out = [out[1]!, out[0]!];
  return out;
}

function badValue(value: number, fmt: RegisterFormat, why: string): FillgateError {
  return new FillgateError('BAD_PAYLOAD', `cannot encode ${value} as ${fmt.type}: ${why}`, { value, type: fmt.type });
}

/** Short hex form for logs, e.g. "[0xFFFF 0xFFFE]". */
export function describeRegisters(regs: readonly number[]): string {
  return `[${regs.map((r) => '0x' + r.toString(16).toUpperCase().padStart(4, '0')).join(' ')}]`;
}
