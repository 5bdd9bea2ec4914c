/**
 * Modbus frames on the wire: PDUs for the function codes a filling station
 * uses, the RTU ADU with its CRC-16, and the Modbus TCP MBAP header, plus
 * stream framers that turn arbitrary chunks into frames and report the bytes
 * they had to discard (never silently lost).
 *
 * References: Modbus Application Protocol v1.1b3 (PDU layouts, section 6;
 * exception codes, section 7), Modbus over Serial Line v1.02 (RTU framing and
 * CRC, sections 2.5.1 and 6.2.2: CRC low byte first), Modbus Messaging on TCP/IP
 * Implementation Guide v1.0b (MBAP header, section 3.1.3).
 *
 * Pure: no I/O. The simulator uses it as a slave; tests use it as a master.
 */
import { FillgateError } from '../errors.ts';

export type ReadFunction = 1 | 2 | 3 | 4;

export type ModbusRequest =
  | { fc: ReadFunction; address: number; count: number }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15; address: number; values: boolean[] }
  | { fc: 16; address: number; values: number[] }
  /** A function code this codec does not model; a slave answers exception 1. */
  | { fc: number; unsupported: true; data: Buffer };

export type ModbusResponse =
  | { fc: 1 | 2; bits: boolean[] }
  | { fc: 3 | 4; registers: number[] }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15 | 16; address: number; count: number }
  | { fc: number; exception: number };

/** Exception codes (Application Protocol section 7). */
export const ModbusExceptionCode = {
  illegalFunction: 1,
  illegalDataAddress: 2,
  illegalDataValue: 3,
  serverDeviceFailure: 4,
  gatewayTargetFailed: 0x0b,
} as const;

/** What a framer yields: a frame, or bytes it had to throw away and why (engineering.md example 1). */
export type FrameEvent<T> = { kind: 'frame'; frame: T; bytes: Buffer } | { kind: 'discarded'; bytes: Buffer; reason: string };

// ---------------------------------------------------------------- CRC-16

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Modbus CRC-16 (polynomial 0xA001 reflected, init 0xFFFF), Serial Line v1.02 section 6.2.2 (table-driven). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (let i = 0; i < bytes.length; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** Appends the CRC, low byte first as the line sends it. */
export function withCrc(frame: Buffer): Buffer {
  const crc = crc16(frame);
  return Buffer.concat([frame, Buffer.from([crc & 0xff, crc >>> 8])]);
}

export function crcOk(frame: Buffer): boolean {
  if (frame.length < 4) return false;
  const body = frame.subarray(0, frame.length - 2);
  return crc16(body) === frame.readUInt16LE(frame.length - 2);
}

// ---------------------------------------------------------------- PDUs

const MAX_READ: Record<ReadFunction, number> = { 1: 2000, 2: 2000, 3: 125, 4: 125 };

function badFrame(message: string, context: Record<string, unknown> = {}): FillgateError {
  return new FillgateError('BAD_FRAME', message, context);
}

function packBits(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}

function unpackBits(bytes: Buffer, count: number): boolean[] {
  return Array.from({ length: count }, (_, i) => ((bytes[i >> 3] ?? 0) >> (i & 7)) & 1 ? true : false);
}

function words(values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => out.writeUInt16BE(v & 0xffff, i * 2));
  return out;
}

function readWords(bytes: Buffer): number[] {
  return Array.from({ length: bytes.length >> 1 }, (_, i) => bytes.readUInt16BE(i * 2));
}

export function encodeRequestPdu(req: ModbusRequest): Buffer {
  if ('unsupported' in req) return Buffer.concat([Buffer.from([req.fc]), req.data]);
  const head = Buffer.alloc(5);
  head[0] = req.fc;
  head.writeUInt16BE(req.address, 1);
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      head.writeUInt16BE(req.count, 3);
      return head;
    case 5:
      head.writeUInt16BE(req.value ? 0xff00 : 0x0000, 3);
      return head;
    case 6:
      head.writeUInt16BE(req.value & 0xffff, 3);
      return head;
    case 15: {
      head.writeUInt16BE(req.values.length, 3);
      const data = packBits(req.values);
      return Buffer.concat([head, Buffer.from([data.length]), data]);
    }
    case 16: {
      head.writeUInt16BE(req.values.length, 3);
      const data = words(req.values);
      return Buffer.concat([head, Buffer.from([data.length]), data]);
    }
  }
  throw badFrame(`cannot encode function ${(req as { fc: number }).fc}`);
}

/** Decodes a request PDU. Malformed ones throw BAD_FRAME with `exception` in the context (the code a slave answers). */
export function decodeRequestPdu(pdu: Buffer): ModbusRequest {
  const fc = pdu[0];
  if (fc === undefined) throw badFrame('empty PDU', { exception: 1 });
  if (![1, 2, 3, 4, 5, 6, 15, 16].includes(fc)) return { fc, unsupported: true, data: pdu.subarray(1) };
  if (pdu.length < 5) throw badFrame(`function ${fc}: PDU of ${pdu.length} bytes is too short`, { exception: 3 });
  const address = pdu.readUInt16BE(1);
  const n = pdu.readUInt16BE(3);
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      if (n < 1 || n > MAX_READ[fc]) throw badFrame(`function ${fc}: count ${n} out of 1..${MAX_READ[fc]}`, { exception: 3 });
      return { fc, address, count: n };
    case 5:
      if (n !== 0xff00 && n !== 0) throw badFrame(`function 5: value 0x${n.toString(16)} is neither FF00 nor 0000`, { exception: 3 });
      return { fc, address, value: n === 0xff00 };
    case 6:
      return { fc, address, value: n };
    default: {
      const byteCount = pdu[5] ?? -1;
      const need = fc === 15 ? Math.ceil(n / 8) : n * 2;
      if (n < 1 || byteCount !== need || pdu.length < 6 + byteCount) {
        throw badFrame(`function ${fc}: count ${n} does not match byte count ${byteCount}`, { exception: 3 });
      }
      const data = pdu.subarray(6, 6 + byteCount);
      return fc === 15 ? { fc, address, values: unpackBits(data, n) } : { fc: 16, address, values: readWords(data) };
    }
  }
}

export function encodeResponsePdu(res: ModbusResponse): Buffer {
  if ('exception' in res) return Buffer.from([(res.fc | 0x80) & 0xff, res.exception]);
  if ('bits' in res) {
    const data = packBits(res.bits);
    return Buffer.concat([Buffer.from([res.fc, data.length]), data]);
  }
  if ('registers' in res) {
    const data = words(res.registers);
    return Buffer.concat([Buffer.from([res.fc, data.length]), data]);
  }
  const out = Buffer.alloc(5);
  out[0] = res.fc;
  out.writeUInt16BE(res.address, 1);
  if ('count' in res) out.writeUInt16BE(res.count, 3);
  else if (res.fc === 5) out.writeUInt16BE(res.value ? 0xff00 : 0, 3);
  else out.writeUInt16BE((res.value as number) & 0xffff, 3);
  return out;
}

/** Decodes a response PDU; `count` is the requested bit count for FC1/2 (the PDU only has whole bytes). */
export function decodeResponsePdu(pdu: Buffer, count?: number): ModbusResponse {
  const fc = pdu[0];
  if (fc === undefined) throw badFrame('empty PDU');
  if (fc & 0x80) return { fc: fc & 0x7f, exception: pdu[1] ?? 0 };
  // Short PDUs are BAD_FRAME, never a RangeError from reading past the end (issue 13).
  const need = fc >= 1 && fc <= 4 ? 2 + (pdu[1] ?? 0) : 5;
  if (pdu.length < need && [1, 2, 3, 4, 5, 6, 15, 16].includes(fc)) throw badFrame(`function ${fc}: response PDU of ${pdu.length} bytes is too short (needs ${need})`, { fc, length: pdu.length });
  switch (fc) {
    case 1:
    case 2: {
      const data = pdu.subarray(2, 2 + (pdu[1] ?? 0));
      return { fc, bits: unpackBits(data, count ?? data.length * 8) };
    }
    case 3:
    case 4:
      return { fc, registers: readWords(pdu.subarray(2, 2 + (pdu[1] ?? 0))) };
    case 5:
      return { fc, address: pdu.readUInt16BE(1), value: pdu.readUInt16BE(3) === 0xff00 };
    case 6:
      return { fc, address: pdu.readUInt16BE(1), value: pdu.readUInt16BE(3) };
    case 15:
    case 16:
      return { fc, address: pdu.readUInt16BE(1), count: pdu.readUInt16BE(3) };
    default:
      throw badFrame(`cannot decode function ${fc}`);
  }
}

// ---------------------------------------------------------------- ADUs

export interface RtuFrame {
  unitId: number;
  pdu: Buffer;
}

export interface MbapFrame {
  transactionId: number;
  unitId: number;
  pdu: Buffer;
}

export function encodeRtu(unitId: number, pdu: Buffer): Buffer {
  return withCrc(Buffer.concat([Buffer.from([unitId]), pdu]));
}

export function encodeMbap(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt16BE(transactionId & 0xffff, 0);
  head.writeUInt16BE(0, 2); // protocol id 0 = Modbus
  head.writeUInt16BE(pdu.length + 1, 4);
  head[6] = unitId;
  return Buffer.concat([head, pdu]);
}

/**
 * RTU frame length from its first bytes, undefined until enough bytes are
 * there, or -1 when the bytes cannot start a frame: a function code this codec
 * does not model, a unit id outside 0..247 (1..247 for answers: Serial Line
 * v1.02 section 2.2), or a byte count that no valid frame has.
 */
type LengthRule = (buf: Buffer) => number | undefined;

const requestLength: LengthRule = (buf) => {
  const unit = buf[0];
  const fc = buf[1];
  if (unit !== undefined && unit > 247) return -1;
  if (fc === undefined) return undefined;
  if (fc >= 1 && fc <= 6) return 8;
  if (fc !== 15 && fc !== 16) return -1;
  if (buf.length < 7) return undefined;
  const bytes = buf[6]!;
  // FC15: up to 1968 coils (246 bytes); FC16: up to 123 registers (246 bytes, even).
  if (bytes === 0 || bytes > 246 || (fc === 16 && bytes % 2 !== 0)) return -1;
  return 9 + bytes;
};

const responseLength: LengthRule = (buf) => {
  const unit = buf[0];
  const fc = buf[1];
  if (unit !== undefined && (unit === 0 || unit > 247)) return -1;
  if (fc === undefined) return undefined;
  if (fc & 0x80) return 5;
  if (fc >= 1 && fc <= 4) {
    if (buf.length < 3) return undefined;
    const bytes = buf[2]!;
    // FC1/2: up to 2000 bits (250 bytes); FC3/4: up to 125 registers (250 bytes, even).
    if (bytes === 0 || bytes > 250 || (fc >= 3 && bytes % 2 !== 0)) return -1;
    return 5 + bytes;
  }
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return 8;
  return -1;
};

export interface Framer<T> {
  push(chunk: Buffer): FrameEvent<T>[];
  /** Bytes waiting for the rest of a frame. */
  pending(): number;
  /** Gives up on waiting bytes (the line went silent): returns them as discarded. */
  flush(reason?: string): FrameEvent<T>[];
}

function flushed<T>(buf: Buffer, reason: string): FrameEvent<T>[] {
  return buf.length ? [{ kind: 'discarded', bytes: Buffer.from(buf), reason }] : [];
}

/**
 * RTU framer. Real slaves delimit frames by 3.5 characters of silence; over a
 * pty or a TCP device server that timing is lost, so frames are found by their
 * length (from the function code) and confirmed by the CRC. A bad CRC costs
 * one byte and the search resumes, so one corrupted frame does not lose the next.
 * Bytes that cannot start a frame (a function code this codec does not model,
 * an impossible unit id or byte count) are discarded and counted with that
 * reason, never guessed at by trying CRCs (issue 13: that cost ~1 ms of CPU per
 * junk byte and took CRC-valid garbage for frames).
 *
 * Cost: each byte is looked at as a frame start at most once, with one CRC of
 * at most 255 bytes, so the work is linear in the input; at most one frame
 * (≤ 255 bytes) waits in pending().
 */
export function rtuFramer(side: 'request' | 'response'): Framer<RtuFrame> {
  const lengthOf = side === 'request' ? requestLength : responseLength;
  let buf = Buffer.alloc(0);
  return {
    pending: () => buf.length,
    flush(reason = 'incomplete frame') {
      const out = flushed<RtuFrame>(buf, reason);
      buf = Buffer.alloc(0);
      return out;
    },
    push(chunk) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
      const out: FrameEvent<RtuFrame>[] = [];
      let junkFrom = 0;
      let junkReason = '';
      let at = 0;
      const flushJunk = () => {
        if (at > junkFrom) out.push({ kind: 'discarded', bytes: Buffer.from(buf.subarray(junkFrom, at)), reason: junkReason });
      };
      const skip = (reason: string) => {
        if (reason !== junkReason) {
          flushJunk();
          junkFrom = at;
          junkReason = reason;
        }
        at++;
      };
      while (at < buf.length) {
        const rest = buf.subarray(at);
        const len = lengthOf(rest);
        if (len === -1) {
          skip(rest[0]! > 247 || (side === 'response' && rest[0] === 0) ? 'bad unit id' : rest[1] !== undefined && !isKnownFunction(rest[1], side) ? `unknown function code ${rest[1]}` : 'bad byte count');
          continue;
        }
        if (len === undefined || rest.length < len) break;
        if (!crcOk(rest.subarray(0, len))) {
          skip('bad CRC or bytes between frames');
          continue;
        }
        flushJunk();
        const candidate = rest.subarray(0, len);
        out.push({ kind: 'frame', frame: { unitId: candidate[0]!, pdu: Buffer.from(candidate.subarray(1, len - 2)) }, bytes: Buffer.from(candidate) });
        at += len;
        junkFrom = at;
        junkReason = '';
      }
      flushJunk();
      buf = Buffer.from(buf.subarray(at));
      return out;
    },
  };
}

function isKnownFunction(fc: number, side: 'request' | 'response'): boolean {
  if (side === 'response' && fc & 0x80) return true;
  return (fc >= 1 && fc <= 6) || fc === 15 || fc === 16;
}

/** MBAP framer for Modbus TCP: the header's length field delimits frames; a bad header discards the buffer. */
export function mbapFramer(): Framer<MbapFrame> {
  let buf = Buffer.alloc(0);
  return {
    pending: () => buf.length,
    flush(reason = 'incomplete frame') {
      const out = flushed<MbapFrame>(buf, reason);
      buf = Buffer.alloc(0);
      return out;
    },
    push(chunk) {
      buf = Buffer.concat([buf, chunk]);
      const out: FrameEvent<MbapFrame>[] = [];
      while (buf.length >= 7) {
        const protocol = buf.readUInt16BE(2);
        const length = buf.readUInt16BE(4);
        if (protocol !== 0 || length < 2 || length > 254) {
          out.push({ kind: 'discarded', bytes: buf, reason: `bad MBAP header (protocol ${protocol}, length ${length})` });
          buf = Buffer.alloc(0);
          break;
        }
        if (buf.length < 6 + length) break;
        const bytes = Buffer.from(buf.subarray(0, 6 + length));
        out.push({ kind: 'frame', frame: { transactionId: bytes.readUInt16BE(0), unitId: bytes[6]!, pdu: bytes.subarray(7) }, bytes });
        buf = buf.subarray(6 + length);
      }
      return out;
    },
  };
}

/** Hex bytes for logs: `01 03 00 04 00 02 85 ca`. */
export function describeFrame(bytes: Buffer): string {
  return bytes.toString('hex').replace(/(..)(?=.)/g, '$1 ');
}
