/**
 * A Modbus slave bus of our own on an Endpoint: Modbus TCP (MBAP), or RTU
 * frames over TCP or a pty. Several units (unit ids) share one bus, as on an
 * RS-485 line. Written on protocols/modbus/frames.ts instead of modbus-serial's
 * servers because those cannot corrupt a CRC, do not check the request CRC and
 * wait a fixed `interval` (engineering.md traps).
 *
 * Behaviour follows the Modbus specs: an RTU slave stays silent on a bad CRC or
 * a frame for another unit (Serial Line v1.02 section 2.4.1); a Modbus TCP
 * server answers exception 0x0B for a unit it does not have (Application
 * Protocol v1.1b3 section 7, "gateway target device failed to respond").
 */
import {
  type FrameEvent,
  type Framer,
  type ModbusRequest,
  type ModbusResponse,
  ModbusExceptionCode,
  decodeRequestPdu,
  encodeMbap,
  encodeResponsePdu,
  encodeRtu,
  mbapFramer,
  rtuFramer,
} from '../../protocols/modbus/frames.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import { type FaultBook, garbageBytes } from '../faults.ts';
import type { Conn, Endpoint } from './endpoint.ts';
import type { WireEntryInput, WireLog } from './wire-log.ts';

/** A simulated device answering on one unit id. */
export interface SimUnit {
  readonly unitId: number;
  /** Device ids whose faults apply to this unit (a relay module serves several valves). */
  readonly deviceIds: readonly string[];
  /** Answers a request; return an exception response for bad addresses. Called only for requests that get through. */
  handle(req: ModbusRequest, now: number): ModbusResponse;
  /** Called once when the unit joins a bus: how it logs events of its own (e.g. a setpoint output) in the wire log. */
  attach?(bus: UnitBus): void;
}

/** What a bus offers its units: the wire log under the bus name and the unit's id. */
export interface UnitBus {
  readonly name: string | undefined;
  /** Adds an entry to the wire log with this bus, unit id and the unit's devices filled in (no-op without a log). */
  log(e: Omit<WireEntryInput, 'bus' | 'unitId' | 'devices'>): void;
}

/** Thrown by units for a bad address or value; becomes an exception response. */
export class ModbusException extends Error {
  constructor(readonly exception: number, message: string) {
    super(message);
  }
}

export interface SlaveStats {
  requests: number;
  answered: number;
  ignored: number;
  exceptions: number;
  discardedBytes: number;
  lastDiscardReason?: string;
}

/** Silence after which half a frame is given up (RTU t3.5 is ~4 ms at 9600; a device server may split frames further). */
const STALE_MS = 100;

export class ModbusSlave {
  readonly stats: SlaveStats = { requests: 0, answered: 0, ignored: 0, exceptions: 0, discardedBytes: 0 };
  private readonly units = new Map<number, SimUnit>();
  private readonly framers = new Map<number, { framer: Framer<{ unitId: number; pdu: Buffer; transactionId?: number }>; stale?: NodeJS.Timeout }>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly endpoint: Endpoint,
    readonly framing: 'mbap' | 'rtu',
    private readonly faults: FaultBook,
    private readonly clock: Clock,
    /** Where every request and reply is logged, under this bus name (see wire-log.ts). */
    private readonly wire?: { log: WireLog; bus: string },
  ) {
    endpoint.data.on(({ conn, bytes }) => this.receive(conn, bytes));
    endpoint.peers.on(({ conn, open }) => {
      if (!open) this.forget(conn);
    });
  }

  addUnit(unit: SimUnit): void {
    this.units.set(unit.unitId, unit);
    unit.attach?.({
      name: this.wire?.bus,
      log: (e) => this.log({ ...e, unitId: unit.unitId, devices: unit.deviceIds } as WireEntryInput),
    });
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.framers.values()) clearTimeout(c.stale);
  }

  private framerFor(conn: Conn) {
    let f = this.framers.get(conn.id);
    if (!f) {
      f = { framer: this.framing === 'mbap' ? mbapFramer() : rtuFramer('request') };
      this.framers.set(conn.id, f);
    }
    return f;
  }

  private forget(conn: Conn): void {
    const f = this.framers.get(conn.id);
    if (f) clearTimeout(f.stale);
    this.framers.delete(conn.id);
  }

  private receive(conn: Conn, bytes: Buffer): void {
    const f = this.framerFor(conn);
    clearTimeout(f.stale);
    for (const ev of f.framer.push(bytes)) this.onFrame(conn, ev);
    if (f.framer.pending() > 0) {
      f.stale = setTimeout(() => {
        for (const ev of f.framer.flush('incomplete frame, line went quiet')) this.onFrame(conn, ev);
      }, STALE_MS);
    }
  }

  private onFrame(conn: Conn, ev: FrameEvent<{ unitId: number; pdu: Buffer; transactionId?: number }>): void {
    if (ev.kind === 'discarded') {
      this.stats.discardedBytes += ev.bytes.length;
      this.stats.lastDiscardReason = ev.reason;
      this.log({ kind: 'discarded', reason: ev.reason, hex: ev.bytes.toString('hex'), conn: conn.id });
      return;
    }
    this.stats.requests++;
    const { unitId, pdu, transactionId } = ev.frame;
    const unit = this.units.get(unitId);
    this.logRequest(conn, unitId, pdu, unit?.deviceIds);
    if (!unit) {
      if (this.framing === 'mbap') this.reply(conn, unitId, transactionId, { fc: pdu[0] ?? 0, exception: ModbusExceptionCode.gatewayTargetFailed }, []);
      else {
        this.stats.ignored++;
        this.log({ kind: 'ignored', unitId, fc: pdu[0], reason: 'no such unit', conn: conn.id });
      }
      return;
    }
    if (this.faults.any(unit.deviceIds, 'no-answer')) {
      this.stats.ignored++;
      this.log({ kind: 'ignored', unitId, devices: unit.deviceIds, fc: pdu[0], reason: 'no-answer fault', conn: conn.id });
      return;
    }
    const response = this.answer(unit, pdu);
    const late = this.faults.any(unit.deviceIds, 'late')?.ms ?? 0;
    // A real slave starts answering after the request has fully arrived on the line.
    const delay = late + this.endpoint.wireTimeMs(ev.bytes.length);
    if (delay <= 0) this.reply(conn, unitId, transactionId, response, unit.deviceIds);
    else {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.reply(conn, unitId, transactionId, response, unit.deviceIds);
      }, delay);
      this.timers.add(t);
    }
  }

  private answer(unit: SimUnit, pdu: Buffer): ModbusResponse {
    const fc = pdu[0] ?? 0;
    try {
      const req = decodeRequestPdu(pdu);
      if ('unsupported' in req) throw new ModbusException(ModbusExceptionCode.illegalFunction, `function ${req.fc} not supported`);
      return unit.handle(req, this.clock.now());
    } catch (err) {
      this.stats.exceptions++;
      if (err instanceof ModbusException) return { fc, exception: err.exception };
      if (isFillgateError(err, 'BAD_FRAME')) return { fc, exception: Number(err.context.exception ?? 3) };
      return { fc, exception: ModbusExceptionCode.serverDeviceFailure };
    }
  }

  private reply(conn: Conn, unitId: number, transactionId: number | undefined, response: ModbusResponse, deviceIds: readonly string[]): void {
    const pdu = encodeResponsePdu(response);
    let frame = this.framing === 'mbap' ? encodeMbap(transactionId ?? 0, unitId, pdu) : encodeRtu(unitId, pdu);
    if (this.faults.any(deviceIds, 'corrupt')) {
      frame = Buffer.from(frame);
      // RTU: the CRC's high byte; MBAP has no check field, so the last data bit flips and the value is wrong.
      frame[frame.length - 1]! ^= this.framing === 'rtu' ? 0xff : 0x01;
    }
    const garbage = this.faults.any(deviceIds, 'garbage');
    if (garbage) frame = Buffer.concat([garbageBytes(garbage.bytes), frame]);
    this.stats.answered++;
    this.logReply(conn, unitId, response, deviceIds);
    this.endpoint.send(conn, frame);
  }

  private log(e: Parameters<WireLog['add']>[0]): void {
    this.wire?.log.add({ bus: this.wire.bus, ...e });
  }

  private logRequest(conn: Conn, unitId: number, pdu: Buffer, devices: readonly string[] | undefined): void {
    if (!this.wire?.log.enabled) return;
    let req: ModbusRequest | undefined;
    try {
      req = decodeRequestPdu(pdu);
    } catch {
      req = undefined;
    }
    const base = { kind: 'request' as const, unitId, conn: conn.id, ...(devices ? { devices } : {}), fc: pdu[0] };
    if (!req || 'unsupported' in req) return this.log({ ...base, hex: pdu.toString('hex') });
    if ('count' in req) return this.log({ ...base, address: req.address, count: req.count });
    if ('value' in req) return this.log({ ...base, address: req.address, value: req.value });
    this.log({ ...base, address: req.address, count: req.values.length, values: req.values });
  }

  private logReply(conn: Conn, unitId: number, res: ModbusResponse, devices: readonly string[]): void {
    if (!this.wire?.log.enabled) return;
    const base = { kind: 'reply' as const, unitId, conn: conn.id, ...(devices.length ? { devices } : {}), fc: res.fc };
    if ('exception' in res) return this.log({ ...base, exception: res.exception });
    if ('bits' in res) return this.log({ ...base, values: res.bits });
    if ('registers' in res) return this.log({ ...base, values: res.registers });
    if ('value' in res) return this.log({ ...base, address: res.address, value: res.value });
    this.log({ ...base, address: res.address, count: res.count });
  }
}

/** Reads a block out of a sparse register image; a gap is an illegal address, as on most indicators. */
export function readBlock<T>(image: ReadonlyMap<number, T>, address: number, count: number, what: string): T[] {
  const out: T[] = [];
  for (let a = address; a < address + count; a++) {
    const v = image.get(a);
    if (v === undefined) throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `${what} ${a} does not exist`);
    out.push(v);
  }
  return out;
}
