/**
 * The station's leak interlock (issue 4 point 3; domain.md 5; GB/T 50493, CJ/T 394), as a
 * pure state machine: `leakTransition(state, input, settings) → { state, outputs }`, no I/O,
 * tested as tables (engineering.md example 4).
 *
 * - Alarm level 1 anywhere, a detector fault, or a detector gone silent locks the station:
 *   every fill in progress stops, new fills are refused.
 * - Level 2 also commands every emergency cut-off valve closed and waits for its
 *   acknowledgement, resending each ackTimeoutMs; after `retries` resends without one it
 *   raises `cutoff_no_ack` (and keeps resending).
 * - The lock is latched: it ends only when a supervisor resets it, and the reset is refused
 *   until every detector is clear, fault-free and reporting. The reset is recorded with the
 *   supervisor's badge. The cut-off valve itself is reopened by hand (CJ/T 394), never by us.
 */
import type { AlarmKind } from '../mqtt/topics.ts';

export type AlarmLevel = 0 | 1 | 2;

export interface LeakSettingsInput {
  detectors: string[];
  cutoffs: string[];
  silentAfterMs: number;
  cutoffAckTimeoutMs: number;
  cutoffRetries: number;
}

export interface DetectorState {
  level: AlarmLevel;
  lel?: number;
  fault: boolean;
  silent: boolean;
  /** Monotonic ms of the last reading (undefined: none yet; silence counts from startedAt). */
  lastAt?: number;
}

export interface CutoffState {
  phase: 'open' | 'closing' | 'closed';
  sends: number;
  lastSentAt: number;
  noAckAlarm: boolean;
}

export interface LeakState {
  startedAt: number;
  detectors: Record<string, DetectorState>;
  cutoffs: Record<string, CutoffState>;
  latched: boolean;
  /** Highest level seen since the last reset. */
  latchedLevel: AlarmLevel;
  lastReset?: { badge: string; at: number };
}

export type LeakInput =
  | { type: 'reading'; device: string; lel?: number; level: AlarmLevel; fault: boolean; at: number }
  | { type: 'cutoff'; device: string; state: 'open' | 'closed' | 'moving' | 'fault'; at: number }
  | { type: 'reset'; badge: string; at: number }
  /** At start: the lock was latched when the previous run ended (kept in station.db); a restart must not lift it. */
  | { type: 'restore'; level: AlarmLevel; at: number }
  | { type: 'tick'; at: number };

export type LeakOutput =
  | { type: 'lock'; on: boolean; reasons: string[] }
  | { type: 'closeCutoff'; device: string; attempt: number }
  | { type: 'alarm'; kind: AlarmKind; active: boolean; device: string; level?: AlarmLevel; detail?: string }
  | { type: 'resetRecorded'; badge: string; at: number }
  | { type: 'resetRefused'; badge: string; reasons: string[] };

export function initialLeakState(settings: LeakSettingsInput, now: number): LeakState {
  const detectors: Record<string, DetectorState> = {};
  for (const d of settings.detectors) detectors[d] = { level: 0, fault: false, silent: false };
  const cutoffs: Record<string, CutoffState> = {};
  for (const c of settings.cutoffs) cutoffs[c] = { phase: 'open', sends: 0, lastSentAt: 0, noAckAlarm: false };
  return { startedAt: now, detectors, cutoffs, latched: false, latchedLevel: 0 };
}

/** Why the station is not clear right now (empty = every detector clear and reporting). */
export function activeConditions(state: LeakState): string[] {
  const out: string[] = [];
  for (const [id, d] of Object.entries(state.detectors)) {
    if (d.level > 0) out.push(`leak level ${d.level} at ${id}`);
    if (d.fault) out.push(`detector ${id} fault`);
    if (d.silent) out.push(`detector ${id} silent`);
  }
  return out;
}

/**
 * Why a reset is refused: the active conditions, and any detector that has not reported since
 * start (a lock restored at start must not be reset before every detector has said it is clear).
 */
export function resetBlockers(state: LeakState): string[] {
  const out = activeConditions(state);
  for (const [id, d] of Object.entries(state.detectors)) if (d.lastAt === undefined && !d.silent) out.push(`detector ${id} has not reported since start`);
  return out;
}

function clone(s: LeakState): LeakState {
  const detectors: Record<string, DetectorState> = {};
  for (const [k, v] of Object.entries(s.detectors)) detectors[k] = { ...v };
  const cutoffs: Record<string, CutoffState> = {};
  for (const [k, v] of Object.entries(s.cutoffs)) cutoffs[k] = { ...v };
  return { ...s, detectors, cutoffs };
}

/** Latches the lock at `level` and, for level 2, starts closing every open cut-off valve. */
function escalate(s: LeakState, level: AlarmLevel, at: number, out: LeakOutput[]): void {
  if (level === 0) return;
  const newLevel2 = level === 2 && s.latchedLevel < 2;
  if (level > s.latchedLevel) s.latchedLevel = level;
  if (!s.latched) {
    s.latched = true;
    out.push({ type: 'lock', on: true, reasons: activeConditions(s) });
  }
  if (level < 2) return;
  for (const [id, c] of Object.entries(s.cutoffs)) {
    // A new level-2 alarm commands every valve, even one we believe closed (it may have been
    // reopened by hand without telling us); during one alarm, only valves seen open again.
    if (c.phase === 'closing' || (c.phase === 'closed' && !newLevel2)) continue;
    Object.assign(c, { phase: 'closing', sends: 1, lastSentAt: at, noAckAlarm: false });
    out.push({ type: 'closeCutoff', device: id, attempt: 1 });
  }
}

function onReading(s: LeakState, i: Extract<LeakInput, { type: 'reading' }>, out: LeakOutput[]): void {
  const prev = s.detectors[i.device] ?? { level: 0, fault: false, silent: false };
  const next: DetectorState = { level: i.level, lel: i.lel, fault: i.fault, silent: false, lastAt: i.at };
  s.detectors[i.device] = next;
  if (prev.silent) out.push({ type: 'alarm', kind: 'detector_silent', active: false, device: i.device });
  if (prev.fault !== next.fault) out.push({ type: 'alarm', kind: 'detector_fault', active: next.fault, device: i.device });
  if (prev.level !== next.level) {
    out.push({ type: 'alarm', kind: 'leak', active: next.level > 0, device: i.device, level: next.level, detail: i.lel === undefined ? undefined : `${i.lel} %LEL` });
  }
  escalate(s, Math.max(next.level, next.fault ? 1 : 0) as AlarmLevel, i.at, out);
}

function onTick(s: LeakState, at: number, settings: LeakSettingsInput, out: LeakOutput[]): void {
  for (const [id, d] of Object.entries(s.detectors)) {
    if (d.silent || at - (d.lastAt ?? s.startedAt) < settings.silentAfterMs) continue;
    d.silent = true;
    out.push({ type: 'alarm', kind: 'detector_silent', active: true, device: id, detail: `no reading for ${settings.silentAfterMs} ms` });
    escalate(s, 1, at, out);
  }
  for (const [id, c] of Object.entries(s.cutoffs)) {
    if (c.phase !== 'closing' || at - c.lastSentAt < settings.cutoffAckTimeoutMs) continue;
    if (c.sends > settings.cutoffRetries && !c.noAckAlarm) {
      c.noAckAlarm = true;
      out.push({ type: 'alarm', kind: 'cutoff_no_ack', active: true, device: id, detail: `${c.sends} close commands unacknowledged` });
    }
    c.sends++;
    c.lastSentAt = at;
    out.push({ type: 'closeCutoff', device: id, attempt: c.sends });
  }
}

function onCutoff(s: LeakState, i: Extract<LeakInput, { type: 'cutoff' }>, out: LeakOutput[]): void {
  const c = s.cutoffs[i.device];
  if (!c) return;
  if (i.state === 'closed') {
    if (c.noAckAlarm) out.push({ type: 'alarm', kind: 'cutoff_no_ack', active: false, device: i.device });
    if (c.phase === 'closing') out.push({ type: 'alarm', kind: 'cutoff_closed', active: true, device: i.device, detail: `acknowledged after ${c.sends} command(s)` });
    Object.assign(c, { phase: 'closed', noAckAlarm: false });
  } else if (i.state === 'open' && c.phase === 'closed' && s.latchedLevel < 2) {
    // Reopened by hand after a reset: armed again for the next level-2 alarm.
    c.phase = 'open';
    c.sends = 0;
  }
  // 'open' while a level-2 lock stands, 'moving' or 'fault': keep resending until it reports closed.
}

function onReset(s: LeakState, i: Extract<LeakInput, { type: 'reset' }>, out: LeakOutput[]): void {
  const reasons = resetBlockers(s);
  if (reasons.length > 0) {
    out.push({ type: 'resetRefused', badge: i.badge, reasons });
    return;
  }
  const wasLatched = s.latched;
  s.latched = false;
  s.latchedLevel = 0;
  s.lastReset = { badge: i.badge, at: i.at };
  for (const c of Object.values(s.cutoffs)) if (c.phase === 'closing') Object.assign(c, { phase: 'closed', noAckAlarm: false });
  out.push({ type: 'resetRecorded', badge: i.badge, at: i.at });
  if (wasLatched) out.push({ type: 'lock', on: false, reasons: [] });
}

export function leakTransition(state: LeakState, input: LeakInput, settings: LeakSettingsInput): { state: LeakState; outputs: LeakOutput[] } {
  const s = clone(state);
  const outputs: LeakOutput[] = [];
  switch (input.type) {
    case 'reading':
      onReading(s, input, outputs);
      break;
    case 'tick':
      onTick(s, input.at, settings, outputs);
      break;
    case 'cutoff':
      onCutoff(s, input, outputs);
      break;
    case 'reset':
      onReset(s, input, outputs);
      break;
    case 'restore':
      // Latched again as it was; a level-2 lock commands every cut-off valve closed again, as a
      // new level-2 alarm would (one reopened by hand while we were down is closed again).
      escalate(s, input.level, input.at, outputs);
      break;
  }
  return { state: s, outputs };
}

/** A holder for the state, for callers that do not keep it themselves. */
export class LeakInterlock {
  state: LeakState;
  constructor(readonly settings: LeakSettingsInput, now: number) {
    this.state = initialLeakState(settings, now);
  }
  apply(input: LeakInput): LeakOutput[] {
    const r = leakTransition(this.state, input, this.settings);
    this.state = r.state;
    return r.outputs;
  }
  get locked(): boolean {
    return this.state.latched;
  }
}
