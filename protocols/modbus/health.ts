/**
 * Per-unit bookkeeping for the bus arbiter: health counters, the health state
 * and the set-aside rule, with time injected so it can be tested as a table.
 *
 * States (DeviceHealth.state):
 *   online   - the last exchange was answered correctly
 *   degraded - the last exchange(s) failed (timeout, bad frame, Modbus exception)
 *              but the unit is not set aside
 *   offline  - set aside, the bus link is down, or never reached since the link (re)opened
 *
 * Set aside: `setAsideAfter` consecutive silent failures (timeouts, bad frames)
 * put the unit aside for `setAsideMs`; then exactly one probe request is let
 * through. A probe that fails sets it aside again at once; one that succeeds
 * brings it back. A Modbus exception is an answer (the device is alive, it
 * refused the request), so it never counts toward set-aside (domain.md 7:
 * EdgeX device-modbus-go #685, ThingsBoard #905).
 */
import type { Clock } from '../clock.ts';
import { Signal } from '../signal.ts';
import type { DeviceHealth, HealthState } from './types.ts';

export interface SetAsidePolicy {
  setAsideAfter: number;
  setAsideMs: number;
}

/** What happened to one request/response on the wire. */
export type AttemptOutcome =
  | { kind: 'ok'; rttMs: number }
  /** The unit was silent or answered garbage: counts toward set-aside. */
  | { kind: 'silent'; error: string; badFrame: boolean }
  /** The unit answered with a Modbus exception. */
  | { kind: 'exception'; error: string }
  /** The bus connection failed under this request: not the unit's fault. */
  | { kind: 'link'; error: string };

/** 'go': send normally; 'probe': send one attempt to test a set-aside unit; 'set-aside': reject at once. */
export type Admission = 'go' | 'probe' | 'set-aside';

export class UnitHealth {
  readonly health = new Signal<DeviceHealth>();
  private h: DeviceHealth;
  private consecutiveSilent = 0;
  private lastOutcome: 'none' | 'ok' | 'failed' = 'none';
  private probing = false;
  private linkDown = false;

  constructor(
    device: string,
    private readonly policy: SetAsidePolicy,
    private readonly clock: Clock,
  ) {
    this.h = { device, state: 'offline', framesDiscarded: 0, requests: 0, failures: 0 };
  }

  snapshot(): DeviceHealth {
    return { ...this.h };
  }

  /** The unit's name in health reports and metrics. */
  get device(): string {
    return this.h.device;
  }

  get isSetAside(): boolean {
    return this.h.setAsideUntil !== undefined;
  }

  /** Called before a request touches the wire. */
  admit(): Admission {
    const until = this.h.setAsideUntil;
    if (until === undefined) return 'go';
    if (this.probing || this.clock.now() < until) return 'set-aside';
    this.probing = true;
    return 'probe';
  }

  /** Records one attempt on the wire. */
  record(outcome: AttemptOutcome): void {
    this.h.requests++;
    const wasProbe = this.probing;
    this.probing = false;
    switch (outcome.kind) {
      case 'ok':
        this.consecutiveSilent = 0;
        this.lastOutcome = 'ok';
        this.h.lastOkAt = this.clock.now();
        this.h.rttMs = outcome.rttMs;
        this.h.setAsideUntil = undefined;
        break;
      case 'exception':
        this.h.failures++;
        this.h.lastError = outcome.error;
        this.consecutiveSilent = 0;
        this.lastOutcome = 'failed';
        this.h.setAsideUntil = undefined;
        break;
      case 'silent':
        this.h.failures++;
        this.h.lastError = outcome.error;
        if (outcome.badFrame) this.h.framesDiscarded++;
        this.consecutiveSilent++;
        this.lastOutcome = 'failed';
        if (wasProbe || this.consecutiveSilent >= this.policy.setAsideAfter) {
          this.h.setAsideUntil = this.clock.now() + this.policy.setAsideMs;
        }
        break;
      case 'link':
        this.h.failures++;
        this.h.lastError = outcome.error;
        break;
    }
    this.update();
  }

  /** Bytes that belonged to no request (e.g. a reply that came after its timeout). */
  noteDiscarded(): void {
    this.h.framesDiscarded++;
  }

  /** The bus link went down (or came back). */
  setLinkDown(down: boolean, reason?: string): void {
    this.linkDown = down;
    if (down) {
      this.lastOutcome = 'none';
      this.probing = false;
      // A link that is opening (or reopening) is not an error in itself: keep the error that took it down.
      if (reason && reason !== 'opening' && reason !== 'reconnecting') this.h.lastError = `link down: ${reason}`;
    }
    this.update();
  }

  private computeState(): HealthState {
    if (this.linkDown || this.h.setAsideUntil !== undefined) return 'offline';
    if (this.lastOutcome === 'ok') return 'online';
    return this.lastOutcome === 'failed' ? 'degraded' : 'offline';
  }

  /** Emits only when the state changes (listeners want transitions, not every poll). */
  private update(): void {
    const state = this.computeState();
    if (state === this.h.state) return;
    this.h.state = state;
    this.health.emit(this.snapshot());
  }
}
