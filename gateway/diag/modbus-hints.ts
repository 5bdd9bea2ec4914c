/**
 * The doctor's reasoning about Modbus devices, pure so it can be tested as a
 * table: what a few probe reads (answers, exceptions, silence, garbage) say
 * about the usual wiring and configuration mistakes.
 *
 * - An exception is an answer: the unit id and the line are right, the
 *   register map is not (Modbus Application Protocol v1.1b3, section 7).
 *   Except 0x0A/0x0B: a TCP gateway saying nothing answered behind it.
 * - Silence from one unit while others on the same bus answer: the line is
 *   fine, the unit id is wrong or the device is off.
 * - Silence from every unit: port, A/B lines (RS-485 D+/D−), power, unit id.
 *   An RTU slave stays silent for a frame it cannot read or that is not for it
 *   (Modbus over Serial Line v1.02, 2.4.1), so baud/parity errors can also be silence.
 * - Garbled replies (bad CRC, stray bytes): baud rate or parity, noise,
 *   termination, or two devices with the same unit id answering at once.
 * - A weight that is absurd while its word-swapped value is plausible: word
 *   order (devices.md 1.1, 1.4, 1.7: vendors differ).
 */
import { isFillgateError, errorMessage } from '../../protocols/errors.ts';
import { decodeReading, type RegisterImage, type ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import type { DoctorStatus } from './types.ts';

export type ProbeOutcome =
  | { kind: 'ok' }
  | { kind: 'exception'; code: number; message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'bad-frame'; message: string }
  | { kind: 'link'; message: string }
  | { kind: 'other'; message: string };

export const GATEWAY_EXCEPTIONS: readonly number[] = [0x0a, 0x0b];

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  0x0a: 'gateway path unavailable',
  0x0b: 'gateway target device failed to respond',
};

export function exceptionName(code: number): string {
  return `exception ${code} (${EXCEPTION_NAMES[code] ?? 'unknown'})`;
}

/** Classifies what a ModbusUnit call rejected with. */
export function outcomeOf(err: unknown): ProbeOutcome {
  const message = errorMessage(err);
  if (!isFillgateError(err)) return { kind: 'other', message };
  switch (err.code) {
    case 'MODBUS_EXCEPTION':
      return { kind: 'exception', code: Number(err.context.exceptionCode ?? 0), message };
    case 'TIMEOUT':
      return { kind: 'timeout', message };
    case 'BAD_FRAME':
      return { kind: 'bad-frame', message };
    case 'LINK_CLOSED':
    case 'LINK_OPEN_FAILED':
      return { kind: 'link', message };
    default:
      return { kind: 'other', message };
  }
}

export interface BusFacts {
  url: string;
  scheme: 'modbus-tcp' | 'modbus-rtu' | 'modbus-rtu-tcp';
  /** e.g. "modbus-rtu serial:///dev/ttyUSB0 9600 8N1". */
  describe: string;
  /** Some unit on this bus gave a valid answer (data or a non-gateway exception) in this run. */
  anyUnitAnswered: boolean;
}

export interface ModbusVerdict {
  status: DoctorStatus;
  hints: string[];
}

/** Judges one unit from its probe outcomes and the discards its bus health counted. */
export function judgeModbus(unitId: number, outcomes: ProbeOutcome[], framesDiscarded: number, bus: BusFacts): ModbusVerdict {
  const failed = outcomes.filter((o) => o.kind !== 'ok');
  const scan = `run \`fillgate modbus scan ${bus.url}\` to list the unit ids that answer`;
  if (outcomes.length === 0) return { status: 'unreachable', hints: ['not probed'] };
  if (failed.length < outcomes.length) {
    const hints: string[] = [];
    if (failed.length > 0) {
      hints.push(`${failed.length} of ${outcomes.length} reads failed (last: ${lastMessage(failed)}): an unreliable line: check cable, shield, 120 Ω termination at both ends, or raise timeoutMs`);
    }
    if (framesDiscarded > 0) hints.push(`${framesDiscarded} garbled or late replies: noise, termination, or a timeout shorter than the device's reply time`);
    // Not ok while a large share is lost (issue 12 point 12): the gateway would see the same.
    const share = (failed.length + framesDiscarded) / (outcomes.length + framesDiscarded);
    return { status: share > LARGE_DISCARD_SHARE ? 'problem' : 'ok', hints };
  }
  if (failed.every((o) => o.kind === 'link')) return { status: 'unreachable', hints: [linkHint(bus)] };
  const exceptions = failed.filter((o): o is Extract<ProbeOutcome, { kind: 'exception' }> => o.kind === 'exception');
  const real = exceptions.find((o) => !GATEWAY_EXCEPTIONS.includes(o.code));
  if (real) return { status: 'problem', hints: [exceptionHint(real.code, unitId)] };
  if (exceptions.length > 0) {
    return {
      status: 'unreachable',
      hints: [
        `the gateway at ${bus.url} answered ${exceptionName(exceptions[0]!.code)}: nothing answers at unit id ${unitId} behind it: ` +
          `the unit id is wrong (check the device's address setting) or the device behind the gateway is off or miswired; ${scan}`,
      ],
    };
  }
  const garbled = failed.some((o) => o.kind === 'bad-frame') || framesDiscarded > 0;
  if (garbled) return { status: 'unreachable', hints: [garbledHint(bus)] };
  return { status: 'unreachable', hints: [silenceHint(unitId, bus, scan)] };
}

function lastMessage(failed: ProbeOutcome[]): string {
  const last = failed[failed.length - 1]!;
  return 'message' in last ? last.message : last.kind;
}

function linkHint(bus: BusFacts): string {
  if (bus.scheme === 'modbus-rtu') {
    return `cannot use the serial port (${bus.describe}): check the path exists (ls /dev/ttyUSB* /dev/serial/by-id), that the user may open it (dialout group), and that no other program holds it`;
  }
  return `cannot connect to ${bus.url}: check the IP address and port (Modbus TCP is 502; device servers often 4001), that the device is powered and on this network`;
}

function exceptionHint(code: number, unitId: number): string {
  const base = `unit ${unitId} answers, so the unit id and the wiring are right, but it refuses the read with ${exceptionName(code)}`;
  switch (code) {
    case 1:
      return `${base}: wrong register area: holding registers (function 3) vs input registers (function 4); check the preset's "function"`;
    case 2:
      return `${base}: the register map does not match this device: check the preset and overrides; a manual that numbers registers from 1 (40001) needs address − 1`;
    case 3:
      return `${base}: the request does not fit the device: check the register map (addresses and types)`;
    default:
      return `${base}: check the device's display or manual for its error state`;
  }
}

function garbledHint(bus: BusFacts): string {
  if (bus.scheme === 'modbus-tcp') {
    return 'replies arrive but are not valid Modbus TCP: a serial device server in raw mode speaks RTU over TCP: use modbus-rtu-tcp:// instead';
  }
  return (
    `replies arrive but are garbled (bad CRC or stray bytes) on ${bus.describe}: the baud rate or parity does not match the device ` +
    '(set ?baud=&parity= in the bus URL, or on the device server), or noise/missing termination, or two devices with the same unit id'
  );
}

function silenceHint(unitId: number, bus: BusFacts, scan: string): string {
  if (bus.anyUnitAnswered) {
    return `other units on this bus answer, so the port, baud rate and wiring are right: unit id ${unitId} is wrong, or this device is off or not on the line; ${scan}`;
  }
  switch (bus.scheme) {
    case 'modbus-rtu':
      return `no unit on ${bus.describe} answers and no bytes came back: A/B (D+/D−) lines swapped, wrong port, device off, wrong unit id, or a baud/parity mismatch (slaves stay silent on frames they cannot read); ${scan}`;
    case 'modbus-rtu-tcp':
      return `the device server accepts the connection but nothing answers behind it: check its serial settings (baud, parity, RS-485 mode), the A/B lines and the unit id; ${scan}`;
    default:
      return `the device accepts the TCP connection but does not answer unit id ${unitId}: wrong unit id (some devices ignore unknown ids), or it speaks RTU over TCP (try modbus-rtu-tcp://); ${scan}`;
  }
}

// ---------------------------------------------------------------- scale readings

export interface ScaleCheck {
  status: DoctorStatus;
  detail: string;
  hints: string[];
}

/** Plausible limit when the map has no capacityKg: above any cylinder filling scale (domain.md 4: ≥ 150 kg for YSP118). */
export const DEFAULT_PLAUSIBLE_KG = 1000;

/** Weights the registry makes likely: from the lightest registered tare to the heaviest tare + allowed fill (kg). */
export interface LikelyWeights {
  minKg: number;
  maxKg: number;
}

/** Share of failed reads and discarded replies above which the doctor does not call a device ok (issue 12 point 12). */
export const LARGE_DISCARD_SHARE = 0.1;

interface Judged {
  /** −Infinity: impossible; higher is more likely. */
  score: number;
  notes: string[];
}

/**
 * How likely one decoded weight is (issue 12 point 12), so two word orders can be compared even
 * when both read as a weight: a swapped float32 or int32 can read as a small or negative weight
 * that no range check refuses. Evidence, each ±1 on a base of 2:
 * - below a gram but not zero (no filling scale resolves that), or negative beyond zero drift: less likely;
 * - float32: a value an indicator displays is round to its division (5.07), a swapped one is not (0.0588995…);
 * - the status' centre-of-zero bit: set while the weight is far from zero, or clear while it is
 *   within one count of it, contradicts the weight; set and near zero agrees with it;
 * - the registry: empty (near zero) or within the registered cylinders' range is likely.
 */
function judgeWeight(map: ScaleRegisterMap, reading: { grossKg: number; zero?: boolean }, likely: LikelyWeights | undefined): Judged {
  const limit = map.capacityKg ?? DEFAULT_PLAUSIBLE_KG;
  const kg = reading.grossKg;
  if (!Number.isFinite(kg) || kg > limit || kg < -0.1 * limit || (kg !== 0 && Math.abs(kg) < 1e-6)) return { score: -Infinity, notes: ['not plausible for this scale'] };
  const drift = Math.max(0.5, 0.01 * limit);
  const countKg = map.kgPerCount ?? 10 ** -(map.decimals ?? 0);
  let score = 2;
  const notes: string[] = [];
  if (kg !== 0 && Math.abs(kg) < 0.001) (score--, notes.push('below a gram'));
  if (kg < -drift) (score--, notes.push(`negative beyond zero drift (${drift} kg)`));
  if (map.weight.type === 'float32') {
    if (isRound(kg)) score++;
    else (score--, notes.push('not a value an indicator displays (not round to a gram)'));
  }
  if (reading.zero === true) {
    if (Math.abs(kg) > drift) (score--, notes.push('the status says centre of zero'));
    else score++;
  } else if (reading.zero === false && map.weight.type !== 'float32' && Math.abs(kg) <= countKg) {
    score--;
    notes.push('the status says not at zero');
  }
  if (likely) {
    if (Math.abs(kg) <= drift || (kg >= likely.minKg && kg <= likely.maxKg)) score++;
    else notes.push(`outside the registered cylinders' ${likely.minKg}-${likely.maxKg} kg`);
  }
  return { score, notes };
}

/** A float32 shown to 7 significant digits (its precision): 5.18, not 5.179999828338623. */
function kgText(map: ScaleRegisterMap, kg: number): string {
  return String(map.weight.type === 'float32' && Number.isFinite(kg) ? Number(kg.toPrecision(7)) : kg);
}

/** A float32 an indicator sends is its displayed value: a whole number of grams, within float32 rounding. */
function isRound(kg: number): boolean {
  const grams = kg * 1000;
  return Math.abs(grams - Math.round(grams)) <= Math.max(1e-3, Math.abs(grams) * 2 ** -22);
}

/**
 * Decodes one poll's registers as the driver would and says whether the weight
 * makes sense; tries the other word and byte orders and names the override
 * whenever one of them reads more plausibly, judged with the scale's status and,
 * when given, the weights the registry makes likely.
 */
export function checkScaleReading(map: ScaleRegisterMap, image: RegisterImage, likely?: LikelyWeights): ScaleCheck {
  const limit = map.capacityKg ?? DEFAULT_PLAUSIBLE_KG;
  const r = decodeReading(map, image);
  const judged = r.ok ? judgeWeight(map, r.reading, likely) : { score: -Infinity, notes: [] };
  const shown = r.ok ? `${kgText(map, r.reading.grossKg)} kg` : r.reason;
  const weightProblem = r.ok || /finite/.test(r.reason);
  if (weightProblem) {
    let best: { alt: ReturnType<typeof alternatives>[number]; kg: number; judged: Judged } | undefined;
    for (const alt of alternatives(map)) {
      const d = decodeReading(alt.map, image);
      if (!d.ok) continue;
      const j = judgeWeight(alt.map, d.reading, likely);
      if (j.score > judged.score && (!best || j.score > best.judged.score)) best = { alt, kg: d.reading.grossKg, judged: j };
    }
    if (best) {
      const why = Number.isFinite(judged.score) ? `less likely (${judged.notes.join('; ') || 'the other order fits better'})` : 'not plausible for this scale';
      return {
        status: 'problem',
        detail: `weight ${shown}`,
        hints: [`the weight reads ${shown}, ${why}; with ${best.alt.change} it reads ${kgText(map, best.kg)} kg: set scale.overrides: ${best.alt.override}`],
      };
    }
  }
  if (r.ok && Number.isFinite(judged.score)) {
    const { grossKg, stable, overload } = r.reading;
    return { status: 'ok', detail: `${grossKg} kg ${stable ? 'stable' : 'moving'}${overload ? ' OVERLOAD' : ''}`, hints: [] };
  }
  const hint = weightProblem
    ? `the weight reads ${shown}, not plausible for this scale (limit ${limit} kg): check weight.address, type, decimals or kgPerCount`
    : `the indicator answers but its reading is refused: ${r.ok ? '' : r.reason}: check the preset; if values look shifted by one register, the manual numbers from 1`;
  return { status: 'problem', detail: r.ok ? `weight ${shown}` : `refused: ${r.reason}`, hints: [hint] };
}

function alternatives(map: ScaleRegisterMap): { map: ScaleRegisterMap; change: string; override: string }[] {
  const w = map.weight;
  const other = w.wordOrder === 'little' ? 'big' : 'little';
  const swap = !w.byteSwap;
  const out: { map: ScaleRegisterMap; change: string; override: string }[] = [];
  const wide = w.type === 'int32' || w.type === 'uint32' || w.type === 'float32';
  if (wide) {
    out.push({ map: { ...map, weight: { ...w, wordOrder: other } }, change: `the words swapped (wordOrder ${other})`, override: `{ weight: { wordOrder: ${other} } }` });
  }
  out.push({ map: { ...map, weight: { ...w, byteSwap: swap } }, change: `the bytes swapped (byteSwap ${swap})`, override: `{ weight: { byteSwap: ${swap} } }` });
  if (wide) {
    out.push({
      map: { ...map, weight: { ...w, wordOrder: other, byteSwap: swap } },
      change: `words and bytes swapped`,
      override: `{ weight: { wordOrder: ${other}, byteSwap: ${swap} } }`,
    });
  }
  return out;
}
