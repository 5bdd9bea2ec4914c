/**
 * `fillgate serial sniff` core: every chunk or frame on a stream link with
 * time, direction, hex and decoded meaning, discards shown with their reason
 * (engineering.md examples 1 and 11: framers report what they throw away; frame
 * logs carry direction and hex). Decoding uses the gateway's own codecs, so
 * what sniff shows is what the drivers will make of the same bytes.
 *
 * Formats: raw (chunks as the OS delivers them), xk3190-a9 | toledo | ascii
 * (protocols/scale), lines (protocols/line.ts), modbus-rtu and modbus-tcp
 * (protocols/modbus/frames.ts). For Modbus, received frames are decoded as
 * responses (a poll sent with send()) unless `side: 'request'` (listening to
 * what some other master sends); what we send is decoded as a request.
 */
import { type Clock, systemClock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { hex, printable, type Framed, type StreamDecoder } from '../../protocols/framing.ts';
import { lineDecoder } from '../../protocols/line.ts';
import type { Link } from '../../protocols/link/types.ts';
import { type FrameEvent, type Framer, decodeRequestPdu, decodeResponsePdu, mbapFramer, rtuFramer } from '../../protocols/modbus/frames.ts';
import { describeRegisters } from '../../protocols/modbus/registers.ts';
import { SCALE_FORMATS, scaleCodec, type ScaleFormat, type ScaleFormatOptions, type ScaleReading } from '../../protocols/scale/index.ts';
import { Signal } from '../../protocols/signal.ts';
import { exceptionName } from './modbus-hints.ts';

export type SniffFormat = 'raw' | ScaleFormat | 'lines' | 'modbus-rtu' | 'modbus-tcp';
export const SNIFF_FORMATS: readonly SniffFormat[] = ['raw', ...SCALE_FORMATS, 'lines', 'modbus-rtu', 'modbus-tcp'];

export interface SniffLine {
  /** ms since the sniffer was made (monotonic). */
  at: number;
  /** rx: received; tx: sent by us; link: the link opened, dropped or closed. */
  dir: 'rx' | 'tx' | 'link';
  kind: 'chunk' | 'frame' | 'discarded' | 'state';
  bytes: Buffer;
  meaning: string;
}

export interface SniffOptions {
  format?: SniffFormat;
  /** Options of a scale format (protocols/scale scaleCodec). */
  formatOptions?: ScaleFormatOptions;
  /** Modbus: decode received frames as responses (default) or requests. */
  side?: 'response' | 'request';
  /** Modbus RTU: a half frame is given up after this much silence (ms); default 50. */
  quietMs?: number;
  clock?: Clock;
}

/** Turns chunks into lines; one per direction. */
interface Decode {
  push(chunk: Buffer): Omit<SniffLine, 'at' | 'dir'>[];
  /** Bytes held waiting for the rest of a frame. */
  pending(): number;
  flush(): Omit<SniffLine, 'at' | 'dir'>[];
}

export class Sniffer {
  readonly lines = new Signal<SniffLine>();
  private readonly clock: Clock;
  private readonly t0: number;
  private readonly rx: Decode;
  private readonly tx: Decode;
  private readonly quietMs: number;
  private quietTimer: NodeJS.Timeout | undefined;
  private readonly offs: (() => void)[] = [];

  constructor(
    readonly link: Link,
    opts: SniffOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.t0 = this.clock.now();
    const format = opts.format ?? 'raw';
    const side = opts.side ?? 'response';
    // Built first, so a bad format or pattern throws before anything is subscribed.
    this.rx = decoderFor(format, side, opts.formatOptions);
    this.tx = decoderFor(format, side === 'response' ? 'request' : 'response', opts.formatOptions);
    this.quietMs = opts.quietMs ?? 50;
    this.offs.push(link.data.on((chunk) => this.onData(chunk)));
    this.offs.push(
      link.stateChange.on(({ state, error }) => this.emit('link', { kind: 'state', bytes: Buffer.alloc(0), meaning: error ? `${state}: ${error}` : state })),
    );
  }

  /** Opens the link (rejects like Link.open, but the link keeps retrying until stop()). */
  start(): Promise<void> {
    return this.link.open();
  }

  /** Sends bytes (e.g. a poll) and shows them as tx. */
  async send(bytes: Buffer): Promise<void> {
    await this.link.write(bytes);
    for (const l of this.tx.push(bytes)) this.emit('tx', l);
    for (const l of this.tx.flush()) this.emit('tx', l);
  }

  async stop(): Promise<void> {
    clearTimeout(this.quietTimer);
    for (const off of this.offs.splice(0)) off();
    for (const l of this.rx.flush()) this.emit('rx', l);
    await this.link.close().catch(() => undefined);
  }

  private onData(chunk: Buffer): void {
    clearTimeout(this.quietTimer);
    for (const l of this.rx.push(chunk)) this.emit('rx', l);
    if (this.rx.pending() > 0) {
      this.quietTimer = setTimeout(() => {
        for (const l of this.rx.flush()) this.emit('rx', l);
      }, this.quietMs);
    }
  }

  private emit(dir: SniffLine['dir'], l: Omit<SniffLine, 'at' | 'dir'>): void {
    this.lines.emit({ at: Math.round((this.clock.now() - this.t0) * 10) / 10, dir, ...l });
  }
}

/** Throws RangeError for an unknown format, FillgateError for bad format options. */
export function sniffLink(link: Link, opts: SniffOptions = {}): Sniffer {
  return new Sniffer(link, opts);
}

function decoderFor(format: SniffFormat, side: 'request' | 'response', formatOptions?: ScaleFormatOptions): Decode {
  switch (format) {
    case 'raw':
      return { push: (b) => [{ kind: 'chunk', bytes: b, meaning: printable(b) }], pending: () => 0, flush: () => [] };
    case 'lines':
      return streamDecode(lineDecoder({ encoding: 'latin1' }), (text) => JSON.stringify(text));
    case 'modbus-rtu':
      return framerDecode(rtuFramer(side), side);
    case 'modbus-tcp':
      return framerDecode(mbapFramer(), side);
    default:
      if (!SCALE_FORMATS.includes(format)) throw new RangeError(`unknown format "${String(format)}"; known: ${SNIFF_FORMATS.join(', ')}`);
      return streamDecode(scaleCodec(format, formatOptions).decoder(), describeReading);
  }
}

function toLine<T>(ev: Framed<T>, describe: (frame: T) => string): Omit<SniffLine, 'at' | 'dir'> {
  return ev.kind === 'frame'
    ? { kind: 'frame', bytes: ev.bytes, meaning: describe(ev.frame) }
    : { kind: 'discarded', bytes: ev.bytes, meaning: `discarded: ${ev.reason}` };
}

function streamDecode<T>(decoder: StreamDecoder<T>, describe: (frame: T) => string): Decode {
  return { push: (b) => decoder.push(b).map((ev) => toLine(ev, describe)), pending: () => 0, flush: () => [] };
}

function framerDecode<T extends { unitId: number; pdu: Buffer }>(framer: Framer<T>, side: 'request' | 'response'): Decode {
  const describe = (f: T) => describeModbus(f.unitId, f.pdu, side);
  const map = (evs: FrameEvent<T>[]) => evs.map((ev) => toLine(ev, describe));
  return { push: (b) => map(framer.push(b)), pending: () => framer.pending(), flush: () => map(framer.flush('incomplete frame, line went quiet')) };
}

export function describeReading(r: ScaleReading): string {
  const flags = [r.net ? 'net' : 'gross', r.stable ? 'stable' : undefined, r.overload ? 'OVERLOAD' : undefined, r.zero ? 'zero' : undefined];
  const tare = r.tareKg !== undefined ? ` tare ${r.tareKg} kg` : '';
  return `${r.weightKg} kg ${flags.filter(Boolean).join(' ')}${tare}`;
}

const AREA: Record<number, string> = { 1: 'coils', 2: 'inputs', 3: 'holding', 4: 'input registers' };

/** One Modbus PDU in words, e.g. "unit 1 FC03 read holding 4+6" or "unit 1 FC03 holding [0x0000 0x04D2]". */
export function describeModbus(unitId: number, pdu: Buffer, side: 'request' | 'response'): string {
  const head = `unit ${unitId} FC${String((pdu[0] ?? 0) & 0x7f).padStart(2, '0')}`;
  try {
    if (side === 'request') {
      const q = decodeRequestPdu(pdu);
      if ('unsupported' in q) return `${head} (not decoded) ${hex(q.data)}`;
      if ('count' in q) return `${head} read ${AREA[q.fc]} ${q.address}+${q.count}`;
      if ('values' in q) return `${head} write ${q.fc === 15 ? 'coils' : 'registers'} ${q.address}+${q.values.length}`;
      return `${head} write ${q.fc === 5 ? 'coil' : 'register'} ${q.address} = ${q.fc === 5 ? (q.value ? 'ON' : 'OFF') : q.value}`;
    }
    const r = decodeResponsePdu(pdu);
    if ('exception' in r) return `${head} ${exceptionName(r.exception)}`;
    if ('registers' in r) return `${head} ${AREA[r.fc]} ${describeRegisters(r.registers)}`;
    if ('bits' in r) return `${head} ${AREA[r.fc]} [${r.bits.map((b) => (b ? 1 : 0)).join('')}]`;
    if ('count' in r) return `${head} wrote ${r.count} from ${r.address}`;
    return `${head} wrote ${r.address} = ${typeof r.value === 'boolean' ? (r.value ? 'ON' : 'OFF') : r.value}`;
  } catch (err) {
    return `${head} undecodable: ${errorMessage(err)}`;
  }
}
