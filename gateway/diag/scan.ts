/**
 * `fillgate modbus scan` core: which unit ids answer on a bus. Each id gets one
 * read (default FC03 of register 0) with a short timeout, one at a time
 * through the bus arbiter, so the RTU gap and one-request-on-the-wire rules
 * hold while scanning.
 *
 * A unit "answers" on any valid response, a Modbus exception included (an
 * exception proves a device with that id is there, it just lacks the
 * register). Exceptions 0x0A/0x0B are the opposite: a Modbus TCP gateway
 * saying nothing answered behind it (Modbus Application Protocol v1.1b3,
 * section 7), so those ids do not answer. A garbled reply (bad CRC) does not
 * count as an answer but is reported: something is there, at the wrong baud
 * rate or together with another device on the same id.
 */
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { describeRegisters } from '../../protocols/modbus/registers.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { GATEWAY_EXCEPTIONS, exceptionName, outcomeOf } from './modbus-hints.ts';

export type ScanFunction = 1 | 2 | 3 | 4;

export interface ScanOptions {
  /** First and last unit id; default 1..247. */
  from?: number;
  to?: number;
  /** Per-id timeout (ms); default 100. */
  timeoutMs?: number;
  /** Register (or coil/input) address read from each unit; default 0. */
  register?: number;
  /** How many registers/bits to read; default 1. */
  count?: number;
  /** Function code of the probe read; default 3 (holding registers). */
  function?: ScanFunction;
  /** Silence between requests (ms); default the bus default. */
  gapMs?: number;
  connectTimeoutMs?: number;
  /** Called after each id, e.g. for progress output. */
  onResult?: (r: ScanResult) => void;
}

/** data/exception: the unit answers; the rest: it does not. */
export type ScanKind = 'data' | 'exception' | 'no-target' | 'garbled' | 'silent' | 'link' | 'error';

export interface ScanResult {
  unitId: number;
  answers: boolean;
  kind: ScanKind;
  /** Round-trip time of the answer, ms. */
  rttMs?: number;
  /** What it answered, e.g. "registers [0x0000]" or "exception 2 (illegal data address)". */
  response: string;
}

/**
 * Scans one bus. Throws FillgateError BAD_URL for a bad URL, BAD_PAYLOAD for
 * bad options, LINK_OPEN_FAILED when the bus cannot be opened; after that it
 * never throws: each id gets a result.
 */
export async function scanBus(url: string, opts: ScanOptions = {}): Promise<ScanResult[]> {
  const fc = opts.function ?? 3;
  const from = opts.from ?? 1;
  const to = opts.to ?? 247;
  const register = opts.register ?? 0;
  const count = opts.count ?? 1;
  if (![1, 2, 3, 4].includes(fc)) throw badOption(`function ${fc} must be 1, 2, 3 or 4 (reads only)`);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from > to) throw badOption(`unit range ${from}..${to} is not a range`);
  const bus = new ModbusBus(url, {
    timeoutMs: opts.timeoutMs ?? 100,
    retries: 0,
    gapMs: opts.gapMs,
    setAsideAfter: 1_000_000,
    reconnectAfterSilent: 1_000_000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
    reconnect: { initialMs: 100, maxMs: 500 },
  });
  try {
    await bus.open();
    const results: ScanResult[] = [];
    for (let id = from; id <= to; id++) {
      const r = await probeId(bus, id, fc, register, count);
      results.push(r);
      opts.onResult?.(r);
    }
    return results;
  } finally {
    await bus.close().catch(() => undefined);
  }
}

async function probeId(bus: ModbusBus, id: number, fc: ScanFunction, register: number, count: number): Promise<ScanResult> {
  let unit: ModbusUnit;
  try {
    unit = bus.unit(id);
  } catch (err) {
    return { unitId: id, answers: false, kind: 'error', response: errorMessage(err) };
  }
  // Timed here rather than from unit health: health keeps no time for exception answers.
  // One request at a time, so nothing queues ahead of it.
  const started = performance.now();
  const rtt = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await read(unit, fc, register, count);
    return { unitId: id, answers: true, kind: 'data', rttMs: rtt(), response };
  } catch (err) {
    const o = outcomeOf(err);
    switch (o.kind) {
      case 'exception':
        if (GATEWAY_EXCEPTIONS.includes(o.code)) return { unitId: id, answers: false, kind: 'no-target', response: exceptionName(o.code) };
        return { unitId: id, answers: true, kind: 'exception', rttMs: rtt(), response: exceptionName(o.code) };
      case 'bad-frame':
        return { unitId: id, answers: false, kind: 'garbled', response: o.message };
      case 'timeout':
        return { unitId: id, answers: false, kind: 'silent', response: 'no answer' };
      case 'link':
        return { unitId: id, answers: false, kind: 'link', response: o.message };
      default:
        return { unitId: id, answers: false, kind: 'error', response: 'message' in o ? o.message : o.kind };
    }
  }
}

async function read(unit: ModbusUnit, fc: ScanFunction, register: number, count: number): Promise<string> {
  const bits = (b: boolean[]) => `bits [${b.map((x) => (x ? 1 : 0)).join(' ')}]`;
  switch (fc) {
    case 1:
      return `coils ${bits(await unit.readCoils(register, count))}`;
    case 2:
      return `inputs ${bits(await unit.readDiscreteInputs(register, count))}`;
    case 3:
      return `holding ${describeRegisters(await unit.readHoldingRegisters(register, count))}`;
    case 4:
      return `input registers ${describeRegisters(await unit.readInputRegisters(register, count))}`;
  }
}

function badOption(message: string): FillgateError {
  return new FillgateError('BAD_PAYLOAD', message, {});
}
