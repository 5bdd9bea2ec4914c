/**
 * The Modbus bus arbiter: one per physical bus (one RS-485 line, one serial
 * device server, one Modbus TCP endpoint). Lessons from peer gateways
 * (domain.md section 7): without an arbiter, two pollers interleave frames on
 * one RS-485 line, and one dead device stalls every other device on the bus
 * because each poll waits out its timeout (EdgeX device-modbus-go #685,
 * ThingsBoard gateway #905). So:
 *
 * - a single FIFO queue, one request outstanding on the wire at a time (up to
 *   `maxInFlight` on a Modbus TCP link that accepts several, matched by MBAP
 *   transaction id; on Modbus TCP an OFF is written at once, even with the window full);
 * - de-energising writes (coil OFF) first; an OFF supersedes queued writes to
 *   its coil; retries are separate queue entries behind urgent jobs, so a close
 *   waits for at most the one attempt on the wire (queue.ts, README.md);
 * - a request may carry `stillWanted`, asked right before its frame is sent;
 * - a gap between the end of one exchange and the next request (RTU needs at
 *   least 3.5 character times of silence to delimit frames, Modbus over Serial
 *   Line v1.02 section 2.5.1.1; default 5 ms, or longer at low baud);
 * - a per-unit timeout and retries (retries only for silence or garbage, not
 *   for Modbus exceptions, which are answers);
 * - a unit that fails `setAsideAfter` times in a row is set aside for
 *   `setAsideMs`: its requests reject at once with DEVICE_SET_ASIDE, except one
 *   probe when the time is up, so it cannot starve the live units;
 * - the connection is reopened with backoff after a drop; meanwhile requests
 *   reject at once with LINK_CLOSED instead of queueing up.
 *
 * Health per unit (online / degraded / offline) lives in health.ts.
 */
import { type Clock, sleep, systemClock } from '../clock.ts';
import { FillgateError, isFillgateError } from '../errors.ts';
import type { BackoffOptions } from '../link/backoff.ts';
import type { LinkState } from '../link/types.ts';
import { type ModbusAddress, formatLinkAddress, parseModbusUrl } from '../link/url.ts';
import { Signal } from '../signal.ts';
import type { FrameTap } from '../link/reconnecting.ts';
import { type ModbusClient, ModbusConnection } from './connection.ts';
import { type AttemptOutcome, UnitHealth } from './health.ts';
import type { DeviceHealth, UnitOptions } from './types.ts';
import { BusQueue, type Job, supersededError } from './queue.ts';
import { type BusLoad, BusStats } from './bus-stats.ts';
import { BusUnit, type UnitRequest } from './unit.ts';

export interface ModbusBusOptions {
  /** Silence between exchanges (ms); default 5 for RTU (more below 9600 baud), 0 for Modbus TCP. */
  gapMs?: number;
  /** Default per-request timeout (ms); default 300. Units may override. */
  timeoutMs?: number;
  /** Default retries after the first attempt; default 1. Units may override. */
  retries?: number;
  /** Consecutive silent failures that set a unit aside; default 3. */
  setAsideAfter?: number;
  /** How long a unit stays set aside before one probe (ms); default 5000. */
  setAsideMs?: number;
  /** Reconnect delays after a drop; default 100 ms doubling to 5 s, with jitter. */
  reconnect?: BackoffOptions;
  /** Give up one connect attempt after this long (ms); default 3000. */
  connectTimeoutMs?: number;
  /**
   * TCP buses only: after this many silent attempts in a row with no answer
   * from any unit, drop the socket and reconnect; default 5. A half-open
   * socket (device server power-cycled, no FIN) is otherwise never noticed.
   */
  reconnectAfterSilent?: number;
  /** For health stamps and set-aside timing (lastOkAt, setAsideUntil); default the system clock. */
  clock?: Clock;
  /** Sees every byte sent and received on the wire (frame logs at trace); must be cheap. */
  onFrame?: FrameTap;
  /**
   * Modbus TCP only: requests on the wire at once, matched by MBAP transaction
   * id (Modbus Messaging on TCP/IP v1.0b section 4.2.1: a server may accept
   * several); default 1. Only for devices (or gateways) that accept pipelined
   * requests. Urgent jobs still go first: the next free slot is theirs.
   */
  maxInFlight?: number;
}

/** One request on the wire and how it ended (for poll-latency metrics). */
export interface ModbusExchange {
  unitId: number;
  /** The unit's health name (e.g. "P1.scale"). */
  device: string;
  /** e.g. "FC03 40+2". */
  describe: string;
  outcome: AttemptOutcome['kind'];
  /** Request to reply or to failure (ms, real time). */
  rttMs: number;
}

export class ModbusBus {
  readonly address: ModbusAddress;
  private readonly conn: ModbusConnection;
  private readonly units = new Map<number, { unit: BusUnit; tracker: UnitHealth }>();
  private readonly queue = new BusQueue();
  private pumping = false;
  private lastDoneAt = -Infinity;
  private lastUnit: UnitHealth | undefined;
  private readonly clock: Clock;
  private readonly gapMs: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly setAsideAfter: number;
  private readonly setAsideMs: number;
  private readonly reconnectAfterSilent: number;
  readonly maxInFlight: number;
  private readonly load = new BusStats();
  /** Silent attempts in a row across all units (any answer resets it). */
  private silentStreak = 0;
  /** Every attempt on the wire, after it ended. */
  readonly exchanges = new Signal<ModbusExchange>();

  /** Throws FillgateError BAD_URL for a bad URL. The bus starts closed: call open(). */
  constructor(
    readonly url: string,
    opts: ModbusBusOptions = {},
  ) {
    this.address = parseModbusUrl(url);
    this.clock = opts.clock ?? systemClock;
    this.gapMs = opts.gapMs ?? defaultGapMs(this.address);
    this.timeoutMs = opts.timeoutMs ?? 300;
    this.retries = opts.retries ?? 1;
    this.setAsideAfter = Math.max(1, opts.setAsideAfter ?? 3);
    this.setAsideMs = opts.setAsideMs ?? 5000;
    const maxInFlight = opts.maxInFlight ?? 1;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 16) {
      throw new FillgateError('BAD_CONFIG', `maxInFlight ${maxInFlight} on ${url} must be 1..16`, { url, maxInFlight });
    }
    if (maxInFlight > 1 && this.address.framing !== 'mbap') {
      // RTU has no transaction id: a second request before the reply would collide on the line.
      throw new FillgateError('BAD_CONFIG', `maxInFlight > 1 needs Modbus TCP (MBAP transaction ids); ${url} is ${this.address.scheme}`, { url, maxInFlight });
    }
    this.maxInFlight = maxInFlight;
    this.reconnectAfterSilent = this.address.link.kind === 'tcp' ? Math.max(1, opts.reconnectAfterSilent ?? 5) : Infinity;
    this.conn = new ModbusConnection(url, this.address, { backoff: opts.reconnect, connectTimeoutMs: opts.connectTimeoutMs, onFrame: opts.onFrame });
    this.conn.stateChange.on(({ state, error }) => this.onLinkState(state, error));
  }

  get state(): LinkState {
    return this.conn.state;
  }

  /** Link state changes of the bus connection ('open', 'reconnecting', ...). */
  get stateChange(): Signal<{ state: LinkState; error?: string }> {
    return this.conn.stateChange;
  }

  /**
   * Opens the connection. Rejects with LINK_OPEN_FAILED if the first attempt
   * fails, but keeps retrying in the background until close().
   */
  open(): Promise<void> {
    return this.conn.open();
  }

  /** Rejects everything queued with LINK_CLOSED and closes the connection. */
  async close(): Promise<void> {
    for (const job of this.queue.drain()) job.reject(this.linkClosed());
    await this.conn.close();
  }

  /** The unit with this id on this bus (the same object for the same id). */
  unit(unitId: number, opts: UnitOptions = {}): BusUnit {
    const existing = this.units.get(unitId);
    if (existing) return existing.unit;
    const maxId = this.address.framing === 'rtu' ? 247 : 255;
    const minId = this.address.framing === 'rtu' ? 1 : 0;
    if (!Number.isInteger(unitId) || unitId < minId || unitId > maxId) {
      // RTU address 0 is broadcast (no reply) and 248-255 are reserved (Modbus over Serial Line v1.02, 2.2).
      throw new FillgateError('BAD_CONFIG', `unit id ${unitId} on ${this.url} must be ${minId}..${maxId}`, { url: this.url, unitId });
    }
    const name = opts.name ?? `${this.url}#${unitId}`;
    const tracker = new UnitHealth(name, { setAsideAfter: this.setAsideAfter, setAsideMs: this.setAsideMs }, this.clock);
    if (this.conn.state !== 'open') tracker.setLinkDown(true);
    const unit = new BusUnit(unitId, this.url, tracker, (u, request) => this.submit(u, request), {
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      retries: opts.retries ?? this.retries,
    });
    this.units.set(unitId, { unit, tracker });
    return unit;
  }

  /** Utilisation, request rate and queue wait of this bus (doctor, /metrics). */
  getLoad(): BusLoad {
    return this.load.snapshot(this.queue.length);
  }

  getHealth(): DeviceHealth[] {
    return [...this.units.values()].map(({ tracker }) => tracker.snapshot());
  }

  /** Where the bus is, for logs: e.g. "modbus-rtu serial:///dev/ttyUSB0 9600 8N1". */
  describe(): string {
    return `${this.address.scheme} ${formatLinkAddress(this.address.link)}`;
  }

  private submit<T>(unit: BusUnit, request: UnitRequest<T>): Promise<T> {
    // Fail fast while the link is down rather than queue behind a dead connection.
    if (this.conn.state !== 'open') return Promise.reject(this.linkClosed());
    return new Promise<T>((resolve, reject) => {
      this.queue.add({ unit, request: request as UnitRequest<unknown>, resolve: resolve as (v: unknown) => void, reject });
      void this.pump();
    });
  }

  /**
   * Puts queued attempts on the wire while a slot is free (one, or maxInFlight
   * on Modbus TCP); never throws, so the queue can never stall. Each attempt's
   * end settles its job, frees its slot and picks the next job in the same
   * synchronous run, so an OFF queued meanwhile is the next thing sent.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.queue.inFlight.size < this.window()) {
        // The gap comes before the pick, so a close queued during it goes next.
        // Wire timing is real time even when tests inject a clock for health stamps.
        const wait = this.lastDoneAt + this.gapMs - performance.now();
        if (wait > 0) {
          await sleep(wait);
          continue;
        }
        const job = this.queue.next();
        if (!job) break;
        this.launch(job);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * How many requests may be on the wire for the job at the queue's head. On
   * Modbus TCP an urgent write (a coil OFF) does not wait for a free slot: the
   * reply to it is matched by its own MBAP transaction id (Modbus Messaging on
   * TCP/IP v1.0b section 4.2), so it is written at once even while a read to a
   * unit that does not answer holds the connection until its timeout. The
   * outside-in bench found OFFs reaching the module 0.2-2.3 s after the trip
   * behind such reads on a loaded machine. The TCP stream still carries the
   * frames in pick order (README rule 1). RTU has no transaction id: there the
   * OFF waits for the line, at most one attempt (rule 5).
   */
  private window(): number {
    if (this.address.framing !== 'mbap' || !this.queue.peek()?.request.urgent) return this.maxInFlight;
    return this.maxInFlight + URGENT_EXTRA;
  }

  private launch(job: Job): void {
    this.queue.inFlight.add(job);
    this.run(job).then(
      (value) => this.settle(job, () => job.resolve(value)),
      (err) => this.settle(job, () => (this.retryLater(job, err) ? this.queue.retry(job) : job.reject(err))),
    );
  }

  private settle(job: Job, outcome: () => void): void {
    this.queue.inFlight.delete(job);
    outcome();
    void this.pump();
  }

  /** One attempt of a job (admission on the first). Retries are new queue entries (queue.ts rule 3). */
  private async run(job: Job): Promise<unknown> {
    const tracker = this.units.get(job.unit.unitId)!.tracker;
    if (this.conn.state !== 'open') throw this.linkClosed();
    // Asked before admission (a dropped job must not hold the unit's probe) and
    // in the same synchronous run as the send: nothing can change in between.
    if (job.request.stillWanted && !job.request.stillWanted()) throw supersededError(job);
    if (job.attemptsLeft === undefined) {
      let admission = tracker.admit();
      // An urgent (de-energising) write is tried once even on a set-aside unit.
      if (admission === 'set-aside' && job.request.urgent) admission = 'probe';
      if (admission === 'set-aside') {
        const h = tracker.snapshot();
        throw new FillgateError('DEVICE_SET_ASIDE', `${h.device} is set aside after repeated failures (last: ${h.lastError})`, {
          device: h.device,
          setAsideUntil: h.setAsideUntil,
        });
      }
      // A probe is a single attempt: a dead unit costs one timeout per setAsideMs.
      job.attemptsLeft = admission === 'probe' ? 1 : 1 + job.unit.retries;
    }
    job.attemptsLeft--;
    job.request.onSend?.();
    return this.attempt(job, tracker);
  }

  /** Silence or garbage is worth another attempt; an exception is an answer. */
  private retryLater(job: Job, err: unknown): boolean {
    const retryable = isFillgateError(err) && ['TIMEOUT', 'BAD_FRAME', 'INTERNAL'].includes(err.code);
    const tracker = this.units.get(job.unit.unitId)!.tracker;
    return retryable && !job.superseded && (job.attemptsLeft ?? 0) > 0 && !tracker.isSetAside && this.conn.state === 'open';
  }

  /** One request on the wire (the gap was kept by pump()); records the outcome. */
  private async attempt(job: Job, tracker: UnitHealth): Promise<unknown> {
    if (this.conn.takeStaleBytes() > 0) this.lastUnit?.noteDiscarded();
    this.lastUnit = tracker;
    const started = performance.now();
    this.load.started(started - (job.queuedAt ?? started));
    try {
      const value = await this.conn.exchange(job.unit.unitId, job.unit.timeoutMs, job.request.op as (c: ModbusClient) => Promise<unknown>, job.request.stillWanted);
      const rttMs = Math.round((performance.now() - started) * 10) / 10;
      tracker.record({ kind: 'ok', rttMs });
      this.silentStreak = 0;
      this.exchanges.emit({ unitId: job.unit.unitId, device: tracker.device, describe: job.request.describe, outcome: 'ok', rttMs });
      return value;
    } catch (err) {
      const e = err as FillgateError;
      // Dropped at the socket (stillWanted said no as the bytes went out): nothing was sent, nothing to count.
      if (isFillgateError(e, 'SUPERSEDED')) throw e;
      const outcome = outcomeOf(e);
      tracker.record(outcome);
      this.noteSilence(outcome);
      const rttMs = Math.round((performance.now() - started) * 10) / 10;
      this.exchanges.emit({ unitId: job.unit.unitId, device: tracker.device, describe: job.request.describe, outcome: outcome.kind, rttMs });
      throw e;
    } finally {
      this.load.ended();
      this.lastDoneAt = performance.now();
    }
  }

  private noteSilence(outcome: AttemptOutcome): void {
    if (outcome.kind === 'exception') this.silentStreak = 0;
    if (outcome.kind !== 'silent') return;
    if (++this.silentStreak < this.reconnectAfterSilent) return;
    this.silentStreak = 0;
    this.conn.reconnect(`no answer from any unit for ${this.reconnectAfterSilent} requests`);
  }

  private onLinkState(state: LinkState, error?: string): void {
    const down = state !== 'open';
    for (const { tracker } of this.units.values()) tracker.setLinkDown(down, error ?? (down ? state : undefined));
    if (down) for (const job of this.queue.drain()) job.reject(this.linkClosed());
  }

  private linkClosed(): FillgateError {
    return new FillgateError('LINK_CLOSED', `Modbus bus ${this.url} is ${this.conn.state}`, { url: this.url, state: this.conn.state });
  }
}

function outcomeOf(e: FillgateError): AttemptOutcome {
  switch (e.code) {
    case 'MODBUS_EXCEPTION':
      return { kind: 'exception', error: e.message };
    case 'LINK_CLOSED':
      return { kind: 'link', error: e.message };
    default:
      return { kind: 'silent', error: e.message, badFrame: e.code === 'BAD_FRAME' };
  }
}

/** Urgent writes that may be on a Modbus TCP connection beyond maxInFlight (each post's close at once). */
const URGENT_EXTRA = 16;

/** RTU: 3.5 character times of 11 bits, at least 5 ms; Modbus TCP needs none. */
function defaultGapMs(address: ModbusAddress): number {
  if (address.framing === 'mbap') return 0;
  if (address.link.kind !== 'serial') return 5;
  return Math.max(5, Math.ceil((3.5 * 11 * 1000) / address.link.baudRate));
}
