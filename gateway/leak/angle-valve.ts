/**
 * Smart angle valves (智能角阀, seed 001): keeps the latest state per valve, refuses a fill
 * whose scanned code differs from the code the valve is bound to (a pocket code, seed 003),
 * and turns tamper or decanting reports into quarantine requests for the registry, each with
 * the event that caused it (issue 4 point 3). The registry is reached through a callback
 * interface; another module implements it.
 */
import { Signal } from '../../protocols/signal.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { AngleValveState, DeviceMessage } from '../mqtt/topics.ts';

export type QuarantineReason = 'tamper' | 'decanting';

export interface QuarantineRequest {
  cylinderCode: string;
  reason: QuarantineReason;
  /** `angle-valve:<valveId>` */
  source: string;
  /** Monotonic ms and wall-clock ISO time of the report. */
  at: number;
  wallAt: string;
  detail?: string;
}

/** What the registry offers this module; a throw is counted, never propagated. */
export interface QuarantinePort {
  quarantine(code: string, reason: QuarantineReason, source: string, event: QuarantineRequest): void;
}

export type ValveCheck =
  | { ok: true; known: boolean; boundCode?: string | null }
  | { ok: false; code: 'VALVE_CODE_MISMATCH'; boundCode: string; detail: string };

export interface ValveReport {
  valve: string;
  kind: QuarantineReason;
  cylinderCode: string | null;
  at: number;
  detail?: string;
}

export class AngleValveMonitor {
  private latest = new Map<string, AngleValveState & { at: number }>();
  /** Every tamper/decanting report, whether or not a cylinder could be quarantined. */
  readonly reports = new Signal<ValveReport>();
  readonly quarantines = new Signal<QuarantineRequest>();
  registryErrors = 0;

  constructor(private deps: { clock: Clock; registry?: QuarantinePort }) {}

  /** Feed every angle-valve message from the broker here; other kinds are ignored. */
  handle(msg: DeviceMessage): void {
    if (msg.kind !== 'angle-valve') return;
    const at = this.deps.clock.now();
    const prev = this.latest.get(msg.device);
    if (msg.channel === 'state') {
      this.latest.set(msg.device, { ...msg.data, at });
      // Flags are reported on every state: act on the rising edge only.
      if (msg.data.tamper && !prev?.tamper) this.report(msg.device, 'tamper', msg.data.boundCode, at);
      if (msg.data.decanting && !prev?.decanting) this.report(msg.device, 'decanting', msg.data.boundCode, at);
      return;
    }
    const e = msg.data;
    if (e.event === 'bound' || e.event === 'unbound') {
      const boundCode = e.event === 'bound' ? (e.boundCode ?? null) : null;
      if (prev) this.latest.set(msg.device, { ...prev, boundCode, at });
      return;
    }
    const code = e.boundCode !== undefined ? e.boundCode : (prev?.boundCode ?? null);
    this.report(msg.device, e.event, code, at, e.detail);
  }

  private report(valve: string, kind: QuarantineReason, cylinderCode: string | null, at: number, detail?: string): void {
    this.reports.emit({ valve, kind, cylinderCode, at, detail });
    if (!cylinderCode) return; // an unbound valve names no cylinder: the report alone is recorded
    const req: QuarantineRequest = {
      cylinderCode,
      reason: kind,
      source: `angle-valve:${valve}`,
      at,
      wallAt: new Date(this.deps.clock.wall()).toISOString(),
      detail,
    };
    try {
      this.deps.registry?.quarantine(cylinderCode, kind, req.source, req);
    } catch (err) {
      this.registryErrors++;
      req.detail = `${detail ?? ''} registry error: ${errorMessage(err)}`.trim();
    }
    this.quarantines.emit(req);
  }

  /** Before a fill: the valve's bound code must be the scanned code. An unknown or unbound valve passes. */
  check(valveCode: string, scannedCode: string): ValveCheck {
    const s = this.latest.get(valveCode);
    if (!s) return { ok: true, known: false };
    if (s.boundCode === null || s.boundCode === scannedCode) return { ok: true, known: true, boundCode: s.boundCode };
    return { ok: false, code: 'VALVE_CODE_MISMATCH', boundCode: s.boundCode, detail: `valve ${valveCode} is bound to ${s.boundCode}, scanned ${scannedCode}` };
  }

  state(valveCode: string): (AngleValveState & { at: number }) | undefined {
    return this.latest.get(valveCode);
  }
}
