/**
 * A weighing indicator that streams frames on its own (continuous output):
 * Yaohua XK3190-A9 (devices.md 3.1), Mettler Toledo continuous (2.1) or an ASCII
 * line format, over any Link (serial port, TCP device server, memory pair).
 *
 * - Every good frame becomes a WeightSample stamped with clock.now() on arrival.
 * - Net frames become gross = net + tare when the frame carries the tare
 *   (Toledo); a net frame without tare cannot give gross and is discarded with
 *   the reason (configure the indicator to send gross): the fill logic works on
 *   gross mass, and guessing the tare could overfill.
 * - Formats without a motion flag (A9, ASCII without a status group): stable
 *   is derived here: true once `stableWindow` consecutive readings agree within
 *   `stableToleranceKg`. The codec cannot know it, the driver sees the sequence.
 * - Plausibility (issue 12 point 11, plausibility.ts): a reading that jumps beyond what
 *   flow allows, flips sign or exceeds the capacity is discarded and counted; a real
 *   placement is accepted once `confirmFrames` frames agree on it. On a format without a
 *   check character (Toledo without checksum, ASCII) the motion and overload flags only
 *   clear once that many frames agree.
 * - Health: 'online' while good frames arrive; after `staleAfterMs` without one,
 *   'degraded' if bytes still arrive but none decode (wrong format, baud or
 *   noise), else 'offline'; 'offline' at once when the link is not open.
 * - Nothing thrown by a decoder, a listener or the clock escapes the data handler.
 */
import type { Clock } from '../../protocols/clock.ts';
import { systemClock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Framed, StreamDecoder } from '../../protocols/framing.ts';
import type { Link, LinkState } from '../../protocols/link/types.ts';
import { scaleCodec, type ScaleFormat, type ScaleFormatOptions } from '../../protocols/scale/index.ts';
import type { ScaleReading } from '../../protocols/scale/types.ts';
import { Signal, type Unsubscribe } from '../../protocols/signal.ts';
import { FlagDebounce, PlausibilityFilter, type PlausibilityOptions } from './plausibility.ts';
import type { DeviceHealth, HealthState, ScaleDriver, WeightSample } from '../types.ts';

export interface StreamScaleOptions {
  id: string;
  link: Link;
  format: ScaleFormat;
  formatOptions?: ScaleFormatOptions;
  clock?: Clock;
  /** No good frame for this long → degraded/offline (ms). Default 500 (config default). */
  staleAfterMs?: number;
  /** Consecutive agreeing readings that make a format without a motion flag "stable". Default 3. */
  stableWindow?: number;
  /** How close readings must be to agree (kg). Default 0: identical, as a settled display is. */
  stableToleranceKg?: number;
  /** Capacity, flow, jump and confirmation of the plausibility filter (plausibility.ts). */
  plausibility?: PlausibilityOptions;
}

export class StreamScaleDriver implements ScaleDriver {
  readonly id: string;
  readonly samples = new Signal<WeightSample>();
  readonly health = new Signal<DeviceHealth>();
  /** Every discarded run with its reason, for logs (frame log with hex is built by the listener). */
  readonly discarded = new Signal<{ device: string; bytes: Buffer; reason: string; at: number }>();

  private readonly link: Link;
  private readonly clock: Clock;
  private readonly decoder: StreamDecoder<ScaleReading>;
  private readonly wireStability: boolean;
  private readonly staleAfterMs: number;
  private readonly stableWindow: number;
  private readonly stableToleranceKg: number;
  private readonly state: DeviceHealth;
  private readonly plausible: PlausibilityFilter;
  /** Flags of an unchecked format clear only when several frames agree; undefined when frames are checked. */
  private readonly flags: FlagDebounce | undefined;
  private subscriptions: Unsubscribe[] = [];
  private timer: NodeJS.Timeout | undefined;
  private openedLink = false;
  private lastBytesAt: number | undefined;
  private startedAt = 0;
  private run: { weightKg: number; count: number } | undefined;

  constructor(opts: StreamScaleOptions) {
    this.id = opts.id;
    this.link = opts.link;
    this.clock = opts.clock ?? systemClock;
    const codec = scaleCodec(opts.format, opts.formatOptions);
    this.decoder = codec.decoder();
    this.wireStability = codec.reportsStability;
    this.plausible = new PlausibilityFilter(opts.plausibility);
    const confirm = Math.max(1, Math.round(opts.plausibility?.confirmFrames ?? 3));
    this.flags = codec.checked ? undefined : new FlagDebounce(confirm);
    this.staleAfterMs = opts.staleAfterMs ?? 500;
    this.stableWindow = Math.max(1, opts.stableWindow ?? 3);
    this.stableToleranceKg = opts.stableToleranceKg ?? 0;
    this.state = { device: opts.id, state: 'offline', framesDiscarded: 0, requests: 0, failures: 0 };
  }

  async start(): Promise<void> {
    if (this.subscriptions.length > 0) return;
    this.startedAt = this.clock.now();
    this.subscriptions.push(
      this.link.data.on((chunk) => this.onData(chunk)),
      this.link.stateChange.on((c) => this.onLinkState(c.state, c.error)),
    );
    // Check staleness a few times per window; unref so a forgotten driver never holds the process.
    this.timer = setInterval(() => this.checkStale(), Math.max(10, Math.floor(this.staleAfterMs / 4)));
    this.timer.unref();
    if (this.link.state === 'closed') {
      this.openedLink = true;
      try {
        await this.link.open();
      } catch (err) {
        // The link keeps trying on its own (Link contract); the scale is offline meanwhile.
        this.setState('offline', `link open failed: ${errorMessage(err)}`);
      }
    }
  }

  async stop(): Promise<void> {
    for (const off of this.subscriptions) off();
    this.subscriptions = [];
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.decoder.reset();
    this.run = undefined;
    if (this.openedLink) {
      this.openedLink = false;
      await this.link.close().catch(() => undefined);
    }
    this.setState('offline', 'stopped');
  }

  getHealth(): DeviceHealth {
    return { ...this.state };
  }

  /**
   * Re-evaluate staleness now (the timer calls this; tests with a ManualClock call it by hand).
   */
  checkStale(): void {
    try {
      if (this.link.state !== 'open') return this.setState('offline', this.link.state === 'closed' ? 'link closed' : undefined);
      const now = this.clock.now();
      const lastOk = this.state.lastOkAt ?? this.startedAt;
      if (now - lastOk < this.staleAfterMs) return;
      const bytesFlowing = this.lastBytesAt !== undefined && now - this.lastBytesAt < this.staleAfterMs;
      if (bytesFlowing) this.setState('degraded', this.state.lastError ?? 'bytes arrive but no frame decodes');
      else this.setState('offline', `no frame for ${Math.round(now - lastOk)} ms`);
    } catch (err) {
      this.state.lastError = `internal: ${errorMessage(err)}`;
    }
  }

  private onLinkState(state: LinkState, error?: string): void {
    try {
      if (state === 'open') return; // online only once a good frame arrives
      // A half frame from before the drop must never join the next connection's bytes.
      this.decoder.reset();
      this.run = undefined;
      this.flags?.reset();
      // Opening and reconnecting are the link's normal work, not an error: keep the error that caused them.
      this.setState('offline', error ? `link ${state}: ${error}` : state === 'closed' ? 'link closed' : undefined);
    } catch (err) {
      this.state.lastError = `internal: ${errorMessage(err)}`;
    }
  }

  private onData(chunk: Buffer): void {
    let at = this.lastBytesAt ?? 0;
    try {
      at = this.clock.now();
      this.lastBytesAt = at;
      for (const item of this.decoder.push(chunk)) this.onFramed(item, at);
    } catch (err) {
      // A decoder or clock bug must not end the stream: count it like a bad frame and start clean.
      this.decoder.reset();
      this.run = undefined;
      this.discard(chunk, `internal error: ${errorMessage(err)}`, at);
    }
  }

  private onFramed(item: Framed<ScaleReading>, at: number): void {
    if (item.kind === 'discarded') return this.discard(item.bytes, item.reason, at);
    const r = item.frame;
    let grossKg = r.weightKg;
    if (r.net) {
      if (r.tareKg === undefined) return this.discard(item.bytes, 'net weight without tare: set the indicator to send gross', at);
      grossKg = Math.round((r.weightKg + r.tareKg) * 1e9) / 1e9;
    }
    const verdict = this.plausible.check(grossKg, at, r.overload);
    if (!verdict.ok) return this.discard(item.bytes, verdict.reason, at);
    const flags = this.flags ? this.flags.apply(r.stable, r.overload) : { stable: r.stable, overload: r.overload };
    const stable = this.wireStability ? flags.stable : this.derivedStable(grossKg, r.overload);
    const sample: WeightSample = { device: this.id, grossKg, stable: stable && !flags.overload, overload: flags.overload, at };
    if (r.zero !== undefined) sample.zero = r.zero;
    this.state.requests++;
    this.state.lastOkAt = at;
    this.setState('online');
    this.samples.emit(sample);
  }

  private derivedStable(kg: number, overload: boolean): boolean {
    if (overload) {
      this.run = undefined;
      return false;
    }
    if (this.run && Math.abs(kg - this.run.weightKg) <= this.stableToleranceKg) this.run.count++;
    else this.run = { weightKg: kg, count: 1 };
    return this.run.count >= this.stableWindow;
  }

  private discard(bytes: Buffer, reason: string, at: number): void {
    this.state.framesDiscarded++;
    this.state.failures++;
    this.state.lastError = reason;
    this.discarded.emit({ device: this.id, bytes, reason, at });
  }

  private setState(state: HealthState, error?: string): void {
    if (error !== undefined) this.state.lastError = error;
    if (this.state.state === state) return;
    this.state.state = state;
    this.health.emit(this.getHealth());
  }
}
