/**
 * A continuous-output indicator (XK3190-A9 tF=0, Toledo standard continuous,
 * ASCII lines): sends framesPerSecond frames to whoever listens, encoded with
 * the shared codecs in protocols/scale (devices.md 2.1 and 3.1).
 */
import { type ScaleFormat, type ScaleFormatOptions, scaleCodec, type ScaleCodec } from '../../protocols/scale/index.ts';
import { type FaultBook, garbageBytes } from '../faults.ts';
import type { Endpoint } from '../wire/endpoint.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { SimScale } from './scale.ts';
import type { WireLog } from '../wire/wire-log.ts';

/** Makes a frame fail its check the way line noise would (see faults.ts "corrupt"). */
export function corruptFrame(format: ScaleFormat, frame: Buffer, opts: ScaleFormatOptions): Buffer {
  const out = Buffer.from(frame);
  if (format === 'xk3190-a9') {
    out[10]! ^= 0x01; // low nibble XOR check character (devices.md 3.1)
  } else if (format === 'toledo' && opts.checksum) {
    out[out.length - 1]! ^= 0x01; // checksum byte after CR (devices.md 2.1)
  } else {
    // No check field: a digit becomes a non-digit, which a decoder must refuse.
    const i = out.findIndex((b, idx) => idx > 0 && b >= 0x30 && b <= 0x39);
    if (i >= 0) out[i]! ^= 0x40;
  }
  return out;
}

export class StreamScaleServer {
  readonly codec: ScaleCodec;
  framesSent = 0;
  /** Readings the format cannot carry (e.g. more than 6 digits on an A9): skipped, counted. */
  encodeErrors = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<NodeJS.Timeout>();
  private readonly opts: ScaleFormatOptions;

  constructor(
    private readonly scale: SimScale,
    readonly format: ScaleFormat,
    readonly endpoint: Endpoint,
    private readonly framesPerSecond: number,
    private readonly faults: FaultBook,
    private readonly clock: Clock,
    formatOptions: ScaleFormatOptions = {},
    private readonly wire?: WireLog,
  ) {
    this.opts = { decimals: scale.decimals, ...formatOptions };
    this.codec = scaleCodec(format, this.opts);
  }

  start(): void {
    const period = 1000 / this.framesPerSecond;
    let next = performance.now() + period;
    const tick = () => {
      this.sendFrame();
      // Chain on the schedule, not on the last run, so the rate does not drift.
      next = Math.max(next + period, performance.now() + 1);
      this.timer = setTimeout(tick, next - performance.now());
    };
    this.timer = setTimeout(tick, period);
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }

  /** Builds the frame for now, or undefined when a fault or the format suppresses it. */
  frame(): Buffer | undefined {
    const id = this.scale.id;
    const r = this.scale.read(this.clock.now());
    if (this.faults.get(id, 'no-answer')) return undefined;
    let bytes: Buffer;
    try {
      bytes = this.codec.encode({ weightKg: r.weightKg, stable: r.stable, overload: r.overload, net: r.net, tareKg: r.tareKg, zero: r.zero });
    } catch {
      this.encodeErrors++;
      return undefined;
    }
    if (this.faults.get(id, 'corrupt')) bytes = corruptFrame(this.format, bytes, this.opts);
    const garbage = this.faults.get(id, 'garbage');
    if (garbage) bytes = Buffer.concat([garbageBytes(garbage.bytes), bytes]);
    return bytes;
  }

  private sendFrame(): void {
    const bytes = this.frame();
    if (!bytes) return;
    const late = this.faults.get(this.scale.id, 'late')?.ms ?? 0;
    const send = () => {
      this.framesSent++;
      if (this.wire?.enabled) this.wire.add({ kind: 'stream', bus: this.scale.id, devices: [this.scale.id], hex: bytes.toString('hex') });
      this.endpoint.broadcast(bytes);
    };
    if (late <= 0) return send();
    const t = setTimeout(() => {
      this.pending.delete(t);
      send();
    }, late);
    this.pending.add(t);
  }
}
