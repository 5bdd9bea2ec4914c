/**
 * What a Modbus weighing indicator's register map looks like, as plain data,
 * plus the pure parts of reading one: validation, planning the fewest read
 * requests, and decoding a block of registers into a reading. No I/O here, so
 * presets can be checked as tables (engineering.md example 4 and 12).
 */
import { FillgateError } from '../../protocols/errors.ts';
import {
  decodeValue,
  encodeValue,
  registerCount,
  registerTypes,
  type RegisterType,
  type WordOrder,
} from '../../protocols/modbus/registers.ts';

/** One bit of a status word. The condition holds when the bit is 1, or 0 if activeLow. */
export interface BitSpec {
  /** Bit number counted from the least significant bit of the decoded word (0..31). */
  bit: number;
  activeLow?: boolean;
}

export interface StatusWord {
  /** Wire address (0-based), read with the map's function code. */
  address: number;
  type: 'uint16' | 'uint32';
  wordOrder?: WordOrder;
  byteSwap?: boolean;
}

export interface StatusRegister extends StatusWord {
  /** Weight at rest. If only `motion` is given, stable = not motion. */
  stable?: BitSpec;
  motion?: BitSpec;
  /** Any of these makes the sample `overload` (over/under range, ADC error). */
  overload?: BitSpec[];
  /** Centre of zero. */
  zero?: BitSpec;
  /** Net mode; required when `weight.kind` is 'displayed' (a net value must never pass as gross). */
  net?: BitSpec;
  /** Each bit, when set, gives the number of decimals (e.g. Flintec FT-112 B27..B31). Overrides `decimals`. */
  decimalBits?: { bit: number; decimals: number }[];
  /** Every one must hold or the poll is rejected (wrong address base, data not OK, second unit). */
  require?: BitSpec[];
}

export interface ErrorRegister extends StatusWord {
  /** Any of these makes the sample `overload`. */
  faults: BitSpec[];
}

/** A zero or tare command: write a register value, or set a coil. */
export type ScaleCommand =
  | { kind: 'register'; address: number; value: number; /** write `idleValue` (default 0) after this many ms */ pulseMs?: number; idleValue?: number }
  | { kind: 'coil'; address: number; value?: boolean; /** write the inverse after this many ms */ pulseMs?: number };

export interface ScaleRegisterMap {
  /** 3 = holding registers (FC03), 4 = input registers (FC04). */
  function: 3 | 4;
  weight: {
    address: number;
    type: RegisterType;
    wordOrder?: WordOrder;
    byteSwap?: boolean;
    /** 'gross' (default): always gross. 'displayed': gross or net, told apart by `status.net`. */
    kind?: 'gross' | 'displayed';
  };
  /** Value / 10^decimals = kg. Use either this or kgPerCount; neither means 1 count = 1 kg. */
  decimals?: number;
  /** kg per count, e.g. 0.001 for an indicator reporting grams. */
  kgPerCount?: number;
  /** Above this the sample is `overload` whatever the status says. */
  capacityKg?: number;
  status?: StatusRegister;
  errorStatus?: ErrorRegister;
  commands?: { zero?: ScaleCommand; tare?: ScaleCommand };
  /**
   * The indicator's own setpoint (limit) register driving a setpoint output, where the manual
   * documents one: the gateway programs it at the cylinder's gross limit before each open and
   * reads it back (issue 9 point 7). An integrator wires that output to cut the valve power.
   */
  setpoint?: SetpointRegister;
}

/**
 * A holding register (or pair) holding a setpoint in the indicator's counts. Written with FC06
 * (one register) or FC16 (two), read back with FC03. The output switches when gross ≥ setpoint
 * (that is how the indicator must be set up; the register map cannot check it).
 */
export interface SetpointRegister {
  address: number;
  type: RegisterType;
  wordOrder?: WordOrder;
  byteSwap?: boolean;
  /** Counts → kg for the setpoint; default the map's decimals/kgPerCount. Required when the map takes decimals from status bits. */
  decimals?: number;
  kgPerCount?: number;
}

/** A decoded poll: the driver adds device and time. */
export interface ScaleReading {
  grossKg: number;
  stable: boolean;
  overload: boolean;
  zero?: boolean;
}

export type DecodeResult = { ok: true; reading: ScaleReading } | { ok: false; reason: string };

/** Registers further apart than this are read in separate requests. */
export const MAX_MERGE_GAP = 16;
/** Modbus limit for one read of registers (Modbus Application Protocol 6.3: 1..125). */
export const MAX_READ_REGISTERS = 125;

export interface ReadBlock {
  address: number;
  count: number;
}

/** Every error in the map, each with its path; empty when the map is usable. */
export function validateScaleMap(map: ScaleRegisterMap): string[] {
  const errors: string[] = [];
  const addr = (path: string, a: unknown) => {
    if (!Number.isInteger(a) || (a as number) < 0 || (a as number) > 0xffff) errors.push(`${path}: address must be an integer 0..65535`);
  };
  const bits = (path: string, list: BitSpec[] | undefined, width: number) => {
    list?.forEach((b, i) => {
      if (!Number.isInteger(b.bit) || b.bit < 0 || b.bit >= width) errors.push(`${path}[${i}].bit: must be 0..${width - 1}`);
    });
  };
  if (map.function !== 3 && map.function !== 4) errors.push('function: must be 3 (holding) or 4 (input)');
  if (!map.weight) errors.push('weight: required');
  else {
    addr('weight.address', map.weight.address);
    if (!registerTypes.includes(map.weight.type)) errors.push(`weight.type: must be one of ${registerTypes.join(', ')}`);
    if (map.weight.kind === 'displayed' && !map.status?.net) {
      errors.push('status.net: required when weight.kind is "displayed" (a net weight must never pass as gross)');
    }
  }
  if (map.decimals !== undefined && map.kgPerCount !== undefined) {
    // A preset brings one of them; an override adding the other must remove it (null removes a field).
    errors.push(
      `decimals/kgPerCount: give one, not both (decimals ${map.decimals}, kgPerCount ${map.kgPerCount}): ` +
        `to switch to kgPerCount write overrides: { decimals: null, kgPerCount: ${map.kgPerCount} }; ` +
        `to switch to decimals write overrides: { kgPerCount: null, decimals: ${map.decimals} }`,
    );
  }
  if (map.decimals !== undefined && (!Number.isInteger(map.decimals) || map.decimals < 0 || map.decimals > 6)) {
    errors.push('decimals: must be an integer 0..6');
  }
  if (map.kgPerCount !== undefined && !(map.kgPerCount > 0)) errors.push('kgPerCount: must be > 0');
  if (map.capacityKg !== undefined && !(map.capacityKg > 0)) errors.push('capacityKg: must be > 0');
  for (const [name, word] of [['status', map.status], ['errorStatus', map.errorStatus]] as const) {
    if (!word) continue;
    addr(`${name}.address`, word.address);
    if (word.type !== 'uint16' && word.type !== 'uint32') errors.push(`${name}.type: must be uint16 or uint32`);
  }
  const s = map.status;
  if (s) {
    const w = s.type === 'uint32' ? 32 : 16;
    for (const key of ['stable', 'motion', 'zero', 'net'] as const) bits(`status.${key}`, s[key] ? [s[key]] : undefined, w);
    bits('status.overload', s.overload, w);
    bits('status.require', s.require, w);
    bits('status.decimalBits', s.decimalBits, w);
    s.decimalBits?.forEach((d, i) => {
      if (!Number.isInteger(d.decimals) || d.decimals < 0 || d.decimals > 6) errors.push(`status.decimalBits[${i}].decimals: must be 0..6`);
    });
  }
  if (map.errorStatus) bits('errorStatus.faults', map.errorStatus.faults, map.errorStatus.type === 'uint32' ? 32 : 16);
  for (const key of ['zero', 'tare'] as const) {
    const c = map.commands?.[key];
    if (!c) continue;
    if (c.kind !== 'register' && c.kind !== 'coil') errors.push(`commands.${key}.kind: must be register or coil`);
    addr(`commands.${key}.address`, c.address);
    if (c.kind === 'register' && (!Number.isInteger(c.value) || c.value < 0 || c.value > 0xffff)) {
      errors.push(`commands.${key}.value: must be an integer 0..65535`);
    }
  }
  if (map.setpoint) {
    const sp = map.setpoint;
    addr('setpoint.address', sp.address);
    if (!registerTypes.includes(sp.type)) errors.push(`setpoint.type: must be one of ${registerTypes.join(', ')}`);
    if (sp.decimals !== undefined && sp.kgPerCount !== undefined) errors.push('setpoint.decimals/kgPerCount: give one, not both');
    if (sp.decimals !== undefined && (!Number.isInteger(sp.decimals) || sp.decimals < 0 || sp.decimals > 6)) {
      errors.push('setpoint.decimals: must be an integer 0..6');
    }
    if (sp.kgPerCount !== undefined && !(sp.kgPerCount > 0)) errors.push('setpoint.kgPerCount: must be > 0');
    if (sp.decimals === undefined && sp.kgPerCount === undefined && map.status?.decimalBits?.length) {
      errors.push('setpoint.decimals: required when the weight\'s decimals come from status bits (a wrong scale would move the limit by a factor of 10)');
    }
  }
  return errors;
}

/** The programmed setpoint: register words in wire order, the raw count and what it means in kg. */
export interface EncodedSetpoint {
  words: number[];
  counts: number;
  kg: number;
}

function setpointFactor(map: ScaleRegisterMap): number {
  const sp = map.setpoint!;
  if (sp.kgPerCount !== undefined) return sp.kgPerCount;
  if (sp.decimals !== undefined) return 10 ** -sp.decimals;
  return map.kgPerCount ?? 10 ** -(map.decimals ?? 0);
}

/**
 * The setpoint for a gross limit in kg. Integer registers round DOWN to a whole count, so the
 * programmed limit is never above the allowed one (a 0.02 kg division never adds 0.01 kg to
 * the limit); float32 registers carry the limit itself. Throws BAD_CONFIG without a setpoint
 * map, BAD_PAYLOAD for a limit that is not a positive finite number or does not fit the type.
 */
export function encodeSetpoint(map: ScaleRegisterMap, grossKg: number): EncodedSetpoint {
  const sp = map.setpoint;
  if (!sp) throw new FillgateError('BAD_CONFIG', 'the register map has no setpoint', {});
  if (!(Number.isFinite(grossKg) && grossKg > 0)) throw new FillgateError('BAD_PAYLOAD', `setpoint limit must be a positive number, got ${grossKg}`, { grossKg });
  if (sp.type === 'float32') {
    // The nearest float32 may lie a hair above the limit: take the next one below then.
    const f = new DataView(new ArrayBuffer(4));
    f.setFloat32(0, grossKg);
    if (f.getFloat32(0) > grossKg) f.setUint32(0, f.getUint32(0) - 1);
    const kg = f.getFloat32(0);
    return { words: encodeValue(kg, sp), counts: kg, kg };
  }
  const factor = setpointFactor(map);
  // The small epsilon keeps 31.4 / 0.01 (= 3139.9999999999995) at 3140 counts.
  const counts = Math.floor(grossKg / factor + 1e-9);
  return { words: encodeValue(counts, sp), counts, kg: roundTo(counts * factor, factor) };
}

/** What a setpoint read back from the indicator means in kg. */
export function decodeSetpoint(map: ScaleRegisterMap, words: readonly number[]): number {
  const sp = map.setpoint;
  if (!sp) throw new FillgateError('BAD_CONFIG', 'the register map has no setpoint', {});
  const raw = decodeValue(words, sp);
  if (sp.type === 'float32') return raw;
  const factor = setpointFactor(map);
  return roundTo(raw * factor, factor);
}

/** Register ranges the map needs, one per word it reads. */
export function neededRanges(map: ScaleRegisterMap): ReadBlock[] {
  const out: ReadBlock[] = [{ address: map.weight.address, count: registerCount(map.weight.type) }];
  if (map.status) out.push({ address: map.status.address, count: registerCount(map.status.type) });
  if (map.errorStatus) out.push({ address: map.errorStatus.address, count: registerCount(map.errorStatus.type) });
  return out;
}

/**
 * The fewest reads covering all ranges: ranges closer than maxGap registers are
 * merged, since on RS-485 a few extra registers (2 bytes each) cost less than
 * another request/response turnaround.
 */
export function planReads(ranges: ReadBlock[], maxGap = MAX_MERGE_GAP): ReadBlock[] {
  const sorted = [...ranges].sort((a, b) => a.address - b.address);
  const blocks: ReadBlock[] = [];
  for (const r of sorted) {
    const last = blocks[blocks.length - 1];
    const end = r.address + r.count;
    if (last) {
      const lastEnd = last.address + last.count;
      const merged = Math.max(lastEnd, end) - last.address;
      if (r.address - lastEnd <= maxGap && merged <= MAX_READ_REGISTERS) {
        last.count = merged;
        continue;
      }
    }
    blocks.push({ ...r });
  }
  return blocks;
}

/** Registers by wire address, filled from the blocks read in one poll. */
export type RegisterImage = Map<number, number>;

export function imageFrom(blocks: ReadBlock[], values: number[][]): RegisterImage {
  const image: RegisterImage = new Map();
  blocks.forEach((b, i) => values[i]!.forEach((v, j) => image.set(b.address + j, v)));
  return image;
}

function wordsAt(image: RegisterImage, address: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = image.get(address + i);
    if (v === undefined) throw new Error(`register ${address + i} was not read`);
    out.push(v);
  }
  return out;
}

const holds = (word: number, spec: BitSpec): boolean => (((word >>> spec.bit) & 1) === 1) !== (spec.activeLow ?? false);

function readWord(image: RegisterImage, w: StatusWord): number {
  return decodeValue(wordsAt(image, w.address, registerCount(w.type)), w);
}

/** Decode one poll's registers. Never throws for device data: bad data is a `{ ok: false }` with the reason. */
export function decodeReading(map: ScaleRegisterMap, image: RegisterImage): DecodeResult {
  try {
    const raw = decodeValue(wordsAt(image, map.weight.address, registerCount(map.weight.type)), map.weight);
    if (!Number.isFinite(raw)) return { ok: false, reason: `weight is not a finite number (${raw})` };
    let decimals = map.decimals;
    let stable = false;
    let overload = false;
    let zero: boolean | undefined;
    const s = map.status;
    if (s) {
      const word = readWord(image, s);
      const failed = s.require?.find((b) => !holds(word, b));
      if (failed) return { ok: false, reason: `status bit ${failed.bit} is not ${failed.activeLow ? 0 : 1} (status 0x${word.toString(16)})` };
      if (map.weight.kind === 'displayed' && s.net && holds(word, s.net)) {
        return { ok: false, reason: 'indicator shows net weight; gross is required' };
      }
      if (s.stable) stable = holds(word, s.stable);
      else if (s.motion) stable = !holds(word, s.motion);
      overload = s.overload?.some((b) => holds(word, b)) ?? false;
      if (s.zero) zero = holds(word, s.zero);
      if (s.decimalBits?.length) {
        const set = s.decimalBits.filter((d) => holds(word, { bit: d.bit }));
        if (set.length !== 1) return { ok: false, reason: `decimal-point bits give ${set.length} settings, expected 1` };
        decimals = set[0]!.decimals;
      }
    }
    if (map.errorStatus) {
      const word = readWord(image, map.errorStatus);
      if (map.errorStatus.faults.some((b) => holds(word, b))) overload = true;
    }
    const factor = map.kgPerCount ?? 10 ** -(decimals ?? 0);
    // Round to the resolution the factor implies, so 1234 * 0.01 is 12.34, not 12.340000000000002.
    const grossKg = roundTo(raw * factor, factor);
    if (map.capacityKg !== undefined && grossKg > map.capacityKg) overload = true;
    const reading: ScaleReading = { grossKg, stable, overload };
    if (zero !== undefined) reading.zero = zero;
    return { ok: true, reading };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

function roundTo(value: number, step: number): number {
  if (!(step > 0) || step >= 1) return value;
  const digits = Math.min(10, Math.ceil(-Math.log10(step)) + 2);
  return Number(value.toFixed(digits));
}
