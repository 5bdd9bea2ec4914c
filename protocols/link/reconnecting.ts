/**
 * The part every link (and every Modbus bus connection) shares: open, keep
 * open, reopen after a drop with backoff until close(). A USB adapter
 * unplugged or a device server rebooted must be survived in-process, not by
 * exiting (Zigbee2MQTT #17809, domain.md section 7). Subclasses only say how
 * to make one connection.
 *
 * open() rejects with LINK_OPEN_FAILED when the first attempt fails, but keeps
 * trying in the background (state 'reconnecting') until close(): a gateway
 * that starts while a scale is switched off must pick it up later.
 */
import { FillgateError, errorMessage } from '../errors.ts';
import { Signal } from '../signal.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import type { Link, LinkState } from './types.ts';

/** One live connection made by a subclass. */
export interface Closeable {
  /** Tear down quietly (no drop is reported for it). */
  destroy(): Promise<void>;
}

/** Handed to each connection attempt so late events of an old connection are ignored. */
export interface Session {
  /** The connection is gone (closed by peer, unplugged, errored). Safe to call more than once. */
  dropped(reason: string): void;
  /** False once this connection has been dropped or replaced. */
  readonly current: boolean;
}

/**
 * Sees bytes as they cross the wire, for frame logs. Called with the buffer
 * itself (no copy, no formatting): the listener decides whether to build a hex
 * dump, so nothing is built when trace logging is off (engineering.md example 11).
 */
export type FrameTap = (dir: 'rx' | 'tx', bytes: Buffer) => void;

export interface ReconnectOptions {
  /** Optional frame tap (see FrameTap); a throwing tap is ignored. */
  onFrame?: FrameTap;
  backoff?: BackoffOptions;
  /** A connection that stayed up this long resets the backoff (ms); default 1000. */
  stableMs?: number;
}

export abstract class Reconnector<C extends Closeable> {
  readonly stateChange = new Signal<{ state: LinkState; error?: string }>();
  /** Drops seen since construction, for health reports. */
  drops = 0;
  private currentState: LinkState = 'closed';
  private conn: C | undefined;
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private openedAt = 0;
  private readonly backoff: Backoff;
  private readonly stableMs: number;

  /** The frame tap given in the options, exception-proof; undefined when none was given. */
  protected readonly tap: FrameTap | undefined;

  constructor(
    readonly url: string,
    opts: ReconnectOptions = {},
  ) {
    const onFrame = opts.onFrame;
    this.tap = onFrame
      ? (dir, bytes) => {
          try {
            onFrame(dir, bytes);
          } catch {
            // A log listener must never break the link.
          }
        }
      : undefined;
    this.backoff = new Backoff(opts.backoff);
    this.stableMs = opts.stableMs ?? 1000;
  }

  get state(): LinkState {
    return this.currentState;
  }

  /** The live connection, only while state is 'open'. */
  protected get connection(): C | undefined {
    return this.currentState === 'open' ? this.conn : undefined;
  }

  /** Makes one connection; must reject (not throw synchronously) on failure. */
  protected abstract connect(session: Session): Promise<C>;

  async open(): Promise<void> {
    if (this.currentState !== 'closed') {
      if (this.currentState === 'open') return;
      throw new FillgateError('LINK_OPEN_FAILED', `${this.url} is ${this.currentState}`, { url: this.url });
    }
    this.setState('opening');
    const error = await this.attempt();
    if (error !== undefined) {
      throw new FillgateError('LINK_OPEN_FAILED', `cannot open ${this.url}: ${error}`, { url: this.url });
    }
  }

  async close(): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    this.setState('closed');
    if (conn) await conn.destroy().catch(() => undefined);
  }

  /** For subclasses that learn of a drop themselves (e.g. a request found the port closed). */
  protected drop(reason: string): void {
    if (this.currentState === 'open') this.onDrop(reason);
  }

  /** One connection attempt; returns the error text on failure and schedules the next try. */
  private async attempt(): Promise<string | undefined> {
    const gen = ++this.generation;
    const self = this;
    const session: Session = {
      dropped: (reason) => {
        if (gen === this.generation && this.currentState === 'open') this.onDrop(reason);
      },
      get current() {
        return gen === self.generation;
      },
    };
    let conn: C;
    try {
      conn = await this.connect(session);
    } catch (err) {
      if (gen === this.generation) this.scheduleRetry(errorMessage(err));
      return errorMessage(err);
    }
    if (gen !== this.generation) {
      // close() happened while connecting: this connection is unwanted.
      await conn.destroy().catch(() => undefined);
      return `${this.url} was closed while opening`;
    }
    this.conn = conn;
    this.openedAt = performance.now();
    this.setState('open');
    return undefined;
  }

  private onDrop(reason: string): void {
    const conn = this.conn;
    this.conn = undefined;
    this.generation++;
    this.drops++;
    if (conn) void conn.destroy().catch(() => undefined);
    if (performance.now() - this.openedAt >= this.stableMs) this.backoff.reset();
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.currentState === 'closed') return;
    this.setState('reconnecting', reason);
    clearTimeout(this.retryTimer);
    const gen = this.generation;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (gen !== this.generation || this.currentState === 'closed') return;
      void this.attempt();
    }, this.backoff.next());
  }

  private setState(state: LinkState, error?: string): void {
    // Only real changes are emitted: a device that stays away does not flood listeners.
    if (state === this.currentState) return;
    this.currentState = state;
    this.stateChange.emit(error === undefined ? { state } : { state, error });
  }
}

/** A byte-stream connection made by a link subclass. */
export interface Connection extends Closeable {
  write(bytes: Buffer): Promise<void>;
}

/** Callbacks a link subclass wires to the OS object it creates. */
export interface ConnectionEvents {
  data(bytes: Buffer): void;
  dropped(reason: string): void;
}

/** A Link over any reconnecting byte stream (serial port, TCP socket). */
export abstract class ReconnectingLink extends Reconnector<Connection> implements Link {
  readonly data = new Signal<Buffer>();

  /** Opens one byte stream; must reject (not throw) on failure. */
  protected abstract openStream(events: ConnectionEvents): Promise<Connection>;

  protected connect(session: Session): Promise<Connection> {
    return this.openStream({
      data: (bytes) => {
        if (!session.current) return;
        this.tap?.('rx', bytes);
        this.data.emit(bytes);
      },
      dropped: (reason) => session.dropped(reason),
    });
  }

  write(bytes: Buffer): Promise<void> {
    const conn = this.connection;
    if (!conn) {
      return Promise.reject(new FillgateError('LINK_CLOSED', `${this.url} is ${this.state}`, { url: this.url, state: this.state }));
    }
    const failed = (err: unknown) =>
      new FillgateError('LINK_WRITE_FAILED', `write to ${this.url} failed: ${errorMessage(err)}`, { url: this.url }, { cause: err });
    try {
      this.tap?.('tx', bytes);
      return conn.write(bytes).catch((err: unknown) => {
        throw failed(err);
      });
    } catch (err) {
      return Promise.reject(failed(err));
    }
  }
}
