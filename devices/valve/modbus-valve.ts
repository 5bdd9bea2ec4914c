/**
 * A fill-gun valve on one coil of a Modbus relay module.
 *
 * Fail safe (domain.md section 4): de-energised = closed. The coil is ON only
 * while everything says open: start() writes OFF before anything else, an open
 * that is not confirmed is undone, and close() goes straight to the wire (it
 * never waits for an open, a confirmation or a keep-alive in this driver) and
 * retries until the module confirms. Every ON this driver writes (the open,
 * each keep-alive) carries stillWanted(): the bus asks it right before the
 * frame is sent, so an ON decided before a close never reaches the module
 * after it (protocols/modbus/README.md). Optional keep-alive rewrites let a module
 * with a host watchdog close the valve by itself when the gateway goes silent
 * (devices.md section 5; see README.md next to this file).
 *
 * Timers use real time; the injected clock only stamps faults.
 */
import { Signal } from '../../protocols/signal.ts';
import { FillgateError, errorMessage, isFillgateError } from '../../protocols/errors.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import type { DeviceHealth, ModbusUnit } from '../../protocols/modbus/types.ts';
import type { ValveDriver, ValveState } from '../types.ts';
import { repeat, type Repeater } from '../repeat.ts';
import type { RelayMember, RelayModule } from './relay-module.ts';

export interface ValveFeedback {
  /** Read with FC02 ('discrete') or FC01 ('coil'). */
  kind: 'discrete' | 'coil';
  address: number;
  /** The feedback value that means the valve is closed (e.g. true for a closed-position limit switch). */
  closedWhen: boolean;
}

export interface ModbusValveOptions {
  id: string;
  unit: ModbusUnit;
  /** Wire address of the relay coil. */
  coil: number;
  feedback?: ValveFeedback;
  /** How long open/close may take to show on the feedback; default 500 ms. */
  confirmTimeoutMs?: number;
  /** Rewrite the commanded coil state this often (for module watchdogs); off when absent. */
  keepAliveMs?: number;
  /** How often feedback is checked while the valve is at rest; default 200 ms. */
  feedbackPollMs?: number;
  /**
   * The relay module this valve's coil is on, shared with the other valves on it: feedback in
   * one read and keep-alive in one write per module (relay-module.ts). Without it the valve
   * reads and keeps alive on its own.
   */
  module?: RelayModule;
  /** First delay between close retries, doubling up to 1 s; default 100 ms. */
  retryMs?: number;
  /** close() rejects after this long if still not confirmed (retries go on); default 2000 ms. */
  closeTimeoutMs?: number;
  clock?: Clock;
}

export type ValveFaultCode = 'VALVE_NOT_CONFIRMED' | 'VALVE_WRITE' | 'VALVE_FEEDBACK' | 'VALVE_KEEPALIVE';

const MAX_RETRY_MS = 1000;

export class ModbusValveDriver implements ValveDriver, RelayMember {
  readonly id: string;
  readonly health = new Signal<DeviceHealth>();
  readonly stateChange = new Signal<{ state: ValveState; reason?: string }>();
  readonly faults = new Signal<{ code: string; message: string; at: number }>();
  readonly closeTimings = new Signal<{ sentAt: number; closedAt?: number }>();
  readonly openTimings = new Signal<{ sentAt: number; openedAt?: number }>();

  private readonly unit: ModbusUnit;
  readonly coil: number;
  private readonly feedback: ValveFeedback | undefined;
  private readonly confirmTimeoutMs: number;
  readonly keepAliveMs: number | undefined;
  readonly feedbackPollMs: number;
  private readonly module: RelayModule | undefined;
  private readonly retryMs: number;
  private readonly closeTimeoutMs: number;
  private readonly clock: Clock;

  private current: ValveState = 'closed';
  /** When an OFF last went on the wire (performance.now()), and who waits for the next one. */
  private offSentAt = -Infinity;
  private offWaiters: { since: number; done: () => void }[] = [];
  /** What the gateway wants: true only between a successful open() and the next close. */
  private commanded = false;
  /** Bumped by every close, so an open in progress knows it was overtaken. */
  private generation = 0;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** State a running close loop ends in: 'closed' for close(), 'fault' when a fault started it. */
  private closeFinal: 'closed' | 'fault' = 'closed';
  private closeReason = '';
  private abandoned = false;
  private wakeRetry: (() => void) | undefined;
  private running = false;
  private timers: Repeater[] = [];
  private unsubscribeUnit: (() => void) | undefined;

  constructor(opts: ModbusValveOptions) {
    const bad = (msg: string) => new FillgateError('BAD_CONFIG', `${opts.id}: ${msg}`, { device: opts.id });
    if (!Number.isInteger(opts.coil) || opts.coil < 0 || opts.coil > 0xffff) throw bad('coil must be 0..65535');
    if (opts.keepAliveMs !== undefined && !(opts.keepAliveMs > 0)) throw bad('keepAliveMs must be > 0');
    this.id = opts.id;
    this.unit = opts.unit;
    this.coil = opts.coil;
    this.feedback = opts.feedback;
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 500;
    this.keepAliveMs = opts.keepAliveMs;
    this.feedbackPollMs = opts.feedbackPollMs ?? 200;
    this.retryMs = opts.retryMs ?? 100;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2000;
    this.clock = opts.clock ?? systemClock;
    this.module = opts.module;
    if (this.module && this.module.unit !== this.unit) throw bad('module must be the relay module of the valve\'s own unit');
    if (this.module && this.feedback) this.module.declareFeedback(this.feedback.kind, this.feedback.address);
  }

  get hasFeedback(): boolean {
    return this.feedback !== undefined;
  }

  get state(): ValveState {
    return this.current;
  }

  getHealth(): DeviceHealth {
    return { ...this.unit.getHealth(), device: this.id };
  }

  /** Write OFF first (a restarted gateway always begins closed), then supervise. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.abandoned = false;
    this.unsubscribeUnit = this.unit.health.on(() => this.health.emit(this.getHealth()));
    // Resolves even if the module is unreachable: the state is 'fault' and retries go on.
    await this.close('driver start').catch(() => undefined);
    // On a shared module, the module's timers keep this valve alive and supervise it (one write, one read).
    if (this.module) this.module.attach(this);
    else {
      if (this.keepAliveMs !== undefined) this.timers.push(repeat(this.keepAliveMs, () => this.keepAlive()));
      if (this.feedback) this.timers.push(repeat(this.feedbackPollMs, () => this.superviseFeedback()));
    }
  }

  /** Close the valve, then stop timers and give up retrying (the module's watchdog is the last line). */
  async stop(): Promise<void> {
    await this.close('driver stop').catch(() => undefined);
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.module?.detach(this);
    this.abandoned = true;
    this.wakeRetry?.();
    this.unsubscribeUnit?.();
    this.unsubscribeUnit = undefined;
    this.running = false;
  }

  open(): Promise<void> {
    if (!this.running) return Promise.reject(this.notConfirmed('driver not started'));
    if (this.closing) return Promise.reject(this.notConfirmed('valve is closing'));
    if (this.current === 'open' && this.commanded) return Promise.resolve();
    this.opening ??= this.doOpen().finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** De-energise now; resolves when confirmed, rejects NOT_CONFIRMED after closeTimeoutMs (retries go on). */
  close(reason: string): Promise<void> {
    this.commanded = false;
    this.generation++;
    this.closeFinal = 'closed';
    this.closeReason = reason;
    const loop = this.closing ?? this.startCloseLoop();
    return this.withTimeout(loop, this.closeTimeoutMs, `close not confirmed within ${this.closeTimeoutMs} ms`);
  }

  private async doOpen(): Promise<void> {
    const gen = this.generation;
    this.commanded = true;
    this.setState('opening');
    let sentAt = Number.NaN;
    try {
      await this.unit.writeCoil(this.coil, true, {
        stillWanted: () => gen === this.generation,
        onSend: () => {
          sentAt = performance.now();
          this.onSentAt = sentAt;
          // At once: a top-up pulse is timed from its ON on the wire (it may have waited for the bus).
          this.openTimings.emit({ sentAt });
        },
      });
    } catch (err) {
      // Dropped unsent (SUPERSEDED): the ON never reached the module. Any other
      // failure may still have switched it on (a lost reply).
      if (gen !== this.generation) return this.overtaken(!isFillgateError(err, 'SUPERSEDED'));
      return this.failOpen('VALVE_WRITE', `open: coil write failed: ${errorMessage(err)}`);
    }
    if (gen !== this.generation) return this.overtaken(true);
    if (this.feedback) {
      const confirmed = await this.waitForFeedback(true, () => gen !== this.generation);
      if (gen !== this.generation) return this.overtaken(true);
      if (!confirmed) return this.failOpen('VALVE_NOT_CONFIRMED', `open not confirmed within ${this.confirmTimeoutMs} ms`);
    }
    // ON on the wire → feedback open: the valve's opening time, for sizing top-up pulses (issue 14 point 2).
    if (Number.isFinite(sentAt)) this.openTimings.emit(this.feedback ? { sentAt, openedAt: this.feedbackChangedAt(sentAt) } : { sentAt });
    this.setState('open');
  }

  /**
   * A close overtook this open. The close has its own OFF; but when this open's
   * ON may have reached the module, nothing but the order of two frames stands
   * between the valve and an ON that lands last (a device server or module that
   * applies it late). So the driver itself writes OFF once more after the ON's
   * outcome is known, and confirms it (with feedback where configured), before
   * the open rejects. De-energised = closed (domain.md section 4).
   */
  private async overtaken(onMaybeSent: boolean): Promise<never> {
    if (onMaybeSent) {
      const running = this.closing;
      if (running) await this.withTimeout(running, this.closeTimeoutMs, 'close not confirmed').catch(() => undefined);
      // A close loop still running (module not answering) writes OFF again on its
      // next try anyway. open() cannot start another open meanwhile: this.opening is set.
      if (!this.commanded && !this.closing) {
        await this.withTimeout(this.startCloseLoop(), this.closeTimeoutMs, 'close after an overtaken open not confirmed').catch(() => undefined);
      }
    }
    throw this.notConfirmed('closed while opening');
  }

  /** Undo a failed open: coil OFF, state 'fault', fault emitted, caller rejected. */
  private async failOpen(code: ValveFaultCode, message: string): Promise<never> {
    this.emitFault(code, message);
    this.commanded = false;
    this.generation++;
    this.closeFinal = 'fault';
    this.closeReason = message;
    const loop = this.closing ?? this.startCloseLoop();
    await this.withTimeout(loop, this.closeTimeoutMs, 'close after failed open not confirmed').catch(() => undefined);
    throw this.notConfirmed(message);
  }

  private startCloseLoop(): Promise<void> {
    const loop = this.runCloseLoop().finally(() => {
      if (this.closing === loop) this.closing = undefined;
    });
    this.closing = loop;
    return loop;
  }

  private async runCloseLoop(): Promise<void> {
    if (this.current === 'open' || this.current === 'opening') this.setState('closing', this.closeReason);
    let delay = this.retryMs;
    // Always at least one attempt (also after stop()); only the retries end when abandoned.
    for (;;) {
      const failure = await this.tryCloseOnce();
      if (!failure) {
        this.setState(this.closeFinal, this.closeReason);
        return;
      }
      this.emitFault(failure.code, failure.message);
      this.setState('fault', failure.message);
      if (this.abandoned) throw this.notConfirmed(`gave up closing after stop: ${failure.message}`);
      await this.retryPause(delay);
      if (this.abandoned) throw this.notConfirmed(`gave up closing after stop: ${failure.message}`);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  whenCloseSent(sinceMs: number, maxWaitMs: number): Promise<void> {
    if (this.offSentAt >= sinceMs) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, maxWaitMs);
      const waiter = { since: sinceMs, done };
      const self = this;
      function done() {
        clearTimeout(t);
        self.offWaiters = self.offWaiters.filter((w) => w !== waiter);
        resolve();
      }
      this.offWaiters.push(waiter);
    });
  }

  private noteOffSent(): void {
    this.offSentAt = performance.now();
    for (const w of [...this.offWaiters]) if (w.since <= this.offSentAt) w.done();
  }

  private async tryCloseOnce(): Promise<{ code: ValveFaultCode; message: string } | undefined> {
    let sentAt = Number.NaN;
    try {
      await this.unit.writeCoil(this.coil, false, {
        onSend: () => {
          this.noteOffSent();
          sentAt = this.offSentAt;
        },
      });
    } catch (err) {
      return { code: 'VALVE_WRITE', message: `close: coil write failed: ${errorMessage(err)}` };
    }
    if (this.feedback && !(await this.waitForFeedback(false, () => false))) {
      return { code: 'VALVE_NOT_CONFIRMED', message: `close not confirmed within ${this.confirmTimeoutMs} ms` };
    }
    // OFF on the wire → feedback closed: the valve's own closing lag, to within one feedback read.
    if (Number.isFinite(sentAt)) this.closeTimings.emit(this.feedback ? { sentAt, closedAt: this.feedbackChangedAt(sentAt) } : { sentAt });
    return undefined;
  }

  /** Answer times (performance.now()) of the feedback reads of the running confirmation: before and after the change. */
  private feedbackBefore = Number.NaN;
  private feedbackAfter = Number.NaN;
  /** When the last open's ON went on the wire, and when a feedback read asked since last said open (performance.now()). */
  private onSentAt = -Infinity;
  private openSeenAt = -Infinity;

  /**
   * Whether a "closed" read asked at `askedAt` proves a close. Not while an ON sent before it may
   * still be opening the valve: a top-up pulse shorter than the valve's opening time is closed before
   * the feedback ever showed open, and a read right after the OFF says "closed" although the valve is
   * only now opening (a solenoid valve energised for less than its response time; the simulator's
   * valve opens openDelayMs after the ON and closes closeDelayMs after the OFF). Confirming on that
   * read let supervision find the valve open moments later: VALVE_FEEDBACK "open while commanded
   * closed", 12 of 192 fills in the outside-in bench at 32 posts. So the close is proven once the
   * feedback was seen open after that ON and closed again, or stayed closed for the time an open
   * may take to show (confirmTimeoutMs) after it.
   */
  private closedIsFinal(askedAt: number): boolean {
    return this.openSeenAt >= this.onSentAt || askedAt >= this.onSentAt + this.confirmTimeoutMs;
  }

  /** When the feedback changed: midway between the last read before it and the first after (never before the command). */
  private feedbackChangedAt(sentAt: number): number {
    const before = Number.isFinite(this.feedbackBefore) ? Math.max(sentAt, this.feedbackBefore) : sentAt;
    return (before + this.feedbackAfter) / 2;
  }

  /** Poll feedback until it shows the wanted position, the timeout passes, or `abort()` says stop. */
  private async waitForFeedback(wantOpen: boolean, abort: () => boolean): Promise<boolean> {
    const end = performance.now() + this.confirmTimeoutMs;
    const step = Math.max(5, Math.min(25, this.confirmTimeoutMs / 10));
    this.feedbackBefore = Number.NaN;
    /** Answer time of the first read in the wanted position since the last one that was not. */
    let firstWanted = Number.NaN;
    for (;;) {
      const askedAt = performance.now();
      const open = await this.readFeedback().catch(() => undefined);
      if (open === wantOpen) {
        if (Number.isNaN(firstWanted)) firstWanted = performance.now();
        if (wantOpen || this.closedIsFinal(askedAt)) {
          this.feedbackAfter = firstWanted;
          return true;
        }
      } else if (open !== undefined) {
        this.feedbackBefore = performance.now();
        firstWanted = Number.NaN;
      }
      // Closed, but an ON just before may still open the valve: read on until closedIsFinal (bounded by
      // onSentAt + confirmTimeoutMs), whatever the deadline of this confirmation.
      const settling = open === false && !wantOpen;
      if (abort() || (!settling && performance.now() >= end)) return false;
      await new Promise((r) => setTimeout(r, step));
    }
  }

  /** True when the feedback says open. */
  private async readFeedback(): Promise<boolean> {
    const fb = this.feedback!;
    const askedAt = performance.now();
    let open: boolean;
    if (this.module) open = (await this.module.readBit(fb.kind, fb.address)) !== fb.closedWhen;
    else {
      const values =
        fb.kind === 'discrete' ? await this.unit.readDiscreteInputs(fb.address, 1) : await this.unit.readCoils(fb.address, 1);
      if (values.length < 1) throw new FillgateError('BAD_PAYLOAD', 'feedback read returned no bits');
      open = values[0] !== fb.closedWhen;
    }
    // Any read asked after the ON that shows open (the open's confirmation, supervision) proves it went through.
    if (open) this.openSeenAt = Math.max(this.openSeenAt, askedAt);
    return open;
  }

  private busy(): boolean {
    return this.opening !== undefined || this.closing !== undefined;
  }

  /**
   * Rewrite the commanded state; if that fails while open, close (the module may
   * be about to). An ON is only sent while this open is still current: a close
   * decided after the keep-alive was queued drops it (SUPERSEDED, no fault).
   */
  async keepAlive(): Promise<void> {
    if (this.busy()) return;
    const want = this.commanded;
    const gen = this.generation;
    try {
      await this.unit.writeCoil(this.coil, want, want ? { stillWanted: () => this.stillCommanded(true, gen) } : {});
    } catch (err) {
      if (isFillgateError(err, 'SUPERSEDED')) return;
      this.keepAliveFailed(err, want);
    }
  }

  /** For the module's FC15 keep-alive: what this coil should be now, in which open. */
  keepAliveState(): { want: boolean; gen: number } {
    return { want: this.commanded, gen: this.generation };
  }

  /**
   * Still commanded as `want` in the open `gen`: an ON only while that very open is current
   * (no close since), an OFF only while no open was commanded since (it would undo it).
   */
  stillCommanded(want: boolean, gen: number): boolean {
    return this.commanded === want && this.generation === gen;
  }

  keepAliveFailed(err: unknown, want: boolean): void {
    this.emitFault('VALVE_KEEPALIVE', `keep-alive write failed: ${errorMessage(err)}`);
    if (want && this.commanded) this.faultClose('keep-alive write failed');
  }

  /** At rest, the feedback must agree with the command; a mismatch is a fault and the valve is closed. */
  async superviseFeedback(): Promise<void> {
    if (this.busy()) return;
    const gen = this.generation;
    const want = this.commanded;
    const open = await this.readFeedback().catch(() => undefined);
    if (open === undefined || gen !== this.generation || this.busy() || open === want) return;
    const message = want ? 'feedback says closed while commanded open' : 'feedback says open while commanded closed';
    this.emitFault('VALVE_FEEDBACK', message);
    this.faultClose(message);
  }

  /** Start closing because of a fault; the valve ends in 'fault' until someone calls close(). */
  private faultClose(reason: string): void {
    this.commanded = false;
    this.generation++;
    if (!this.closing) {
      this.closeFinal = 'fault';
      this.closeReason = reason;
      this.setState('fault', reason);
      this.startCloseLoop().catch(() => undefined);
    }
  }

  private retryPause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeRetry = done;
    });
  }

  private withTimeout(p: Promise<void>, ms: number, message: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(this.notConfirmed(message)), ms);
      p.then(
        () => {
          clearTimeout(t);
          resolve();
        },
        (err) => {
          clearTimeout(t);
          reject(err);
        },
      );
    });
  }

  private notConfirmed(message: string): FillgateError {
    return new FillgateError('NOT_CONFIRMED', `${this.id}: ${message}`, { device: this.id, coil: this.coil });
  }

  private emitFault(code: ValveFaultCode, message: string): void {
    this.faults.emit({ code, message: `${this.id}: ${message}`, at: this.clock.now() });
  }

  private setState(state: ValveState, reason?: string): void {
    if (this.current === state) return;
    this.current = state;
    this.stateChange.emit(reason === undefined ? { state } : { state, reason });
  }
}
