/**
 * An ID reader or scanner that sends one code per line (domain.md 3; devices.md 4:
 * RFID UART modules, Wiegand converters, barcode/QR scanners with programmable
 * prefix/suffix), over any Link.
 *
 * Each line: strip the configured prefix/suffix (e.g. STX / ETX), normalise with
 * the code rules (devices/codes.ts), drop repeats, emit a CodeRead. A line no
 * rule accepts is counted in health.framesDiscarded with the reason and never
 * emitted: an unreadable tag must not become some other cylinder.
 *
 * Repeats: a reader held at a tag sends it again and again. The same code
 * within `dedupMs` of its previous read is suppressed, and the window slides
 * with each repeat, so a tag left in the field is one read, and the same tag
 * presented again after a pause is a new read.
 */
import type { Clock } from '../../protocols/clock.ts';
import { systemClock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { StreamDecoder } from '../../protocols/framing.ts';
import { lineDecoder } from '../../protocols/line.ts';
import type { Link, LinkState } from '../../protocols/link/types.ts';
import { Signal, type Unsubscribe } from '../../protocols/signal.ts';
import { compileCodeRules, type CodeNormaliser, type CodeRule } from '../codes.ts';
import type { CodeRead, DeviceHealth, HealthState, ReaderDriver } from '../types.ts';

export interface LineReaderOptions {
  id: string;
  link: Link;
  /** Ordered normalisation rules (devices/codes.ts). */
  rules: readonly CodeRule[];
  /** Stripped from the start of a line when present, e.g. '\x02'. */
  prefix?: string;
  /** Stripped from the end of a line when present, e.g. '\x03'. */
  suffix?: string;
  /** Same code again within this window (ms) is one read. Default 1500 (config `dedupMs`). */
  dedupMs?: number;
  /** Bytes that end a line. Default CR or LF (CR LF counts once); e.g. [0x03] for RDM6300-type modules. */
  terminators?: number[];
  /** Longest line accepted (bytes). Default 256. */
  maxLineLength?: number;
  clock?: Clock;
}

export class LineReaderDriver implements ReaderDriver {
  readonly id: string;
  readonly reads = new Signal<CodeRead>();
  readonly health = new Signal<DeviceHealth>();
  /** Every refused line with its reason, for logs. */
  readonly discarded = new Signal<{ device: string; bytes: Buffer; reason: string; at: number }>();
  /** Repeats suppressed by the dedup window. */
  duplicatesSuppressed = 0;

  private readonly link: Link;
  private readonly clock: Clock;
  private readonly normalise: CodeNormaliser;
  private readonly lines: StreamDecoder<string>;
  private readonly opts: LineReaderOptions;
  private readonly dedupMs: number;
  private readonly lastSeen = new Map<string, number>();
  private readonly state: DeviceHealth;
  private subscriptions: Unsubscribe[] = [];
  private openedLink = false;

  constructor(opts: LineReaderOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.link = opts.link;
    this.clock = opts.clock ?? systemClock;
    this.normalise = compileCodeRules(opts.rules);
    this.lines = lineDecoder({ terminators: opts.terminators, maxLength: opts.maxLineLength ?? 256 });
    this.dedupMs = opts.dedupMs ?? 1500;
    this.state = { device: opts.id, state: 'offline', framesDiscarded: 0, requests: 0, failures: 0 };
  }

  async start(): Promise<void> {
    if (this.subscriptions.length > 0) return;
    this.subscriptions.push(
      this.link.data.on((chunk) => this.onData(chunk)),
      this.link.stateChange.on((c) => this.onLinkState(c.state, c.error)),
    );
    if (this.link.state === 'closed') {
      this.openedLink = true;
      try {
        await this.link.open();
      } catch (err) {
        this.setState('offline', `link open failed: ${errorMessage(err)}`);
      }
    }
    // A reader is silent when no tag is near: an open link is all "online" can mean.
    if (this.link.state === 'open') this.setState('online');
  }

  async stop(): Promise<void> {
    for (const off of this.subscriptions) off();
    this.subscriptions = [];
    this.lines.reset();
    this.lastSeen.clear();
    if (this.openedLink) {
      this.openedLink = false;
      await this.link.close().catch(() => undefined);
    }
    this.setState('offline', 'stopped');
  }

  getHealth(): DeviceHealth {
    return { ...this.state };
  }

  private onLinkState(state: LinkState, error?: string): void {
    if (state === 'open') return this.setState('online');
    this.lines.reset();
    // Opening and reconnecting are the link's normal work, not an error: keep the error that caused them.
    this.setState('offline', error ? `link ${state}: ${error}` : state === 'closed' ? 'link closed' : undefined);
  }

  private onData(chunk: Buffer): void {
    const at = this.clock.now();
    try {
      for (const item of this.lines.push(chunk)) {
        if (item.kind === 'discarded') this.discard(item.bytes, item.reason, at);
        else this.onLine(item.frame, item.bytes, at);
      }
    } catch (err) {
      this.lines.reset();
      this.discard(chunk, `internal error: ${errorMessage(err)}`, at);
    }
  }

  /** Strip the configured prefix/suffix, normalise, dedup, emit. */
  private onLine(line: string, bytes: Buffer, at: number): void {
    let raw = line;
    const { prefix, suffix } = this.opts;
    if (prefix && raw.startsWith(prefix)) raw = raw.slice(prefix.length);
    if (suffix && raw.endsWith(suffix)) raw = raw.slice(0, raw.length - suffix.length);
    raw = raw.trim();
    const result = this.normalise(raw);
    if ('error' in result) return this.discard(bytes, result.error, at);
    this.state.requests++;
    this.state.lastOkAt = at;
    const key = `${result.kind}:${result.code}`;
    const previous = this.lastSeen.get(key);
    this.lastSeen.set(key, at);
    this.forgetOld(at);
    if (previous !== undefined && at - previous < this.dedupMs) {
      this.duplicatesSuppressed++;
      return;
    }
    this.reads.emit({ device: this.id, raw, code: result.code, kind: result.kind, at });
  }

  /** Keep the dedup map small: entries older than the window can no longer suppress anything. */
  private forgetOld(now: number): void {
    if (this.lastSeen.size < 64) return;
    for (const [k, t] of this.lastSeen) if (now - t >= this.dedupMs) this.lastSeen.delete(k);
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
