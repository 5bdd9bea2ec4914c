/**
 * Start-up recovery of the fills a killed process left open (issue 13 points 1-2). Each journal entry
 * becomes one `interrupted` record before any post starts. Where the valve may have opened, the
 * record waits (bounded: records.recoveryReweighMs) for the first stable sample of the post's scale
 * after the restart, so it carries the measured mass: a cylinder overfilled while the relay's watchdog
 * was still counting is recorded as such, quarantined as must-decant and alarmed. The choice (hold the
 * commit, bounded, rather than a follow-up record) is documented in docs/record-format.md 4.
 */
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { WeightSample } from '../../devices/types.ts';
import { controllerConfig, toleranceOf } from '../controller/index.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { FillRecordV1 } from '../records/record.ts';
import { isoWithOffset } from '../records/record.ts';
import type { JournalEntry, RecordStore, RecoveryExtra } from '../records/store.ts';
import type { FillAttempt } from '../records/types.ts';
import type { StationDevices } from './devices.ts';

/** Journal stages after which the valve may have been open: the mass on the scale may have changed. */
const OPENED = new Set(['open', 'cutOff', 'topUp', 'settled', 'reweigh', 'checker', 'reweighed']);

export interface OverfillFinding {
  post: string;
  attemptId: string;
  cylinderCode: string;
  contentKg: number;
  allowedFillKg: number;
  grossKg?: number;
}

export interface Recovered {
  records: FillRecordV1[];
  /** Recorded as over the allowed mass: quarantine them and raise the alarm. */
  overfilled: OverfillFinding[];
}

const round = (kg: number) => Math.round(kg * 1000) / 1000;

/** What a re-weigh after the restart adds to an interrupted attempt (pure). */
export function reweighAfterRestart(
  a: FillAttempt,
  s: Pick<WeightSample, 'grossKg' | 'device'> | undefined,
  limits: { emptyBelowKg: number; tareMatchKg: number; toleranceKg: number },
): RecoveryExtra {
  if (!s) return { note: 'not re-weighed after the restart: no stable sample from the post scale in time' };
  if (s.grossKg < limits.emptyBelowKg) return { note: `not re-weighed after the restart: ${s.device} empty (${s.grossKg} kg)` };
  if (a.tareKg === undefined) return { note: `weighed ${s.grossKg} kg on ${s.device} after the restart; no tare known` };
  if (s.grossKg < a.tareKg - limits.tareMatchKg) {
    return { note: `not re-weighed after the restart: ${s.device} shows ${s.grossKg} kg, below the tare ${a.tareKg} kg (another cylinder?)` };
  }
  const contentKg = round(s.grossKg - a.tareKg);
  const fields: Partial<FillAttempt> = { reweighedGrossKg: round(s.grossKg), reweighedNetKg: contentKg, reweighScale: s.device };
  if (a.residualKg !== undefined) fields.netFilledKg = round(contentKg - a.residualKg);
  if (a.targetKg !== undefined) fields.deviationKg = round(contentKg - a.targetKg);
  if (a.targetKg !== undefined && a.allowedFillKg !== undefined) {
    fields.toleranceState = toleranceOf(contentKg, a.targetKg, a.allowedFillKg, limits.toleranceKg);
    fields.mustDecant = fields.toleranceState === 'over';
  }
  const over = a.allowedFillKg !== undefined && contentKg > a.allowedFillKg;
  const note = `re-weighed after the restart on ${s.device}: gross ${round(s.grossKg)} kg, content ${contentKg} kg${a.allowedFillKg !== undefined ? ` (allowed ${a.allowedFillKg} kg)` : ''}${over ? ': OVER the allowed mass, must decant' : ''}`;
  return { fields, note };
}

/** The first stable, non-overloaded sample the scale sends from now on, or undefined after `ms`. */
function firstStable(devices: StationDevices, post: string, ms: number): Promise<WeightSample | undefined> {
  const scale = devices.posts.get(post)?.scale;
  if (!scale || ms <= 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), ms);
    const off = scale.samples.on((s) => {
      if (s.stable && !s.overload && Number.isFinite(s.grossKg)) done(s);
    });
    function done(s: WeightSample | undefined) {
      clearTimeout(timer);
      off();
      resolve(s);
    }
  });
}

/**
 * Commit every journalled attempt as `interrupted`, after re-weighing those whose valve may have
 * opened (devices started, valves closed). Posts must not start before this returns.
 */
export async function recoverJournal(deps: { store: RecordStore; devices: StationDevices; config: GatewayConfig; clock: Clock; log: Logger }): Promise<Recovered> {
  const { store, devices, config, log } = deps;
  const entries = store.journal();
  if (entries.length === 0) return { records: [], overfilled: [] };
  const waitMs = config.records.recoveryReweighMs;
  const extras: Record<string, RecoveryExtra> = {};
  const weigh = async (e: JournalEntry) => {
    const p = config.posts.find((x) => x.id === e.post);
    if (!p || !OPENED.has(e.stage ?? 'open')) return;
    const c = controllerConfig({ station: config.station.code, unit: config.station.unit, post: p.id, medium: p.medium }, { ...config.fill, ...p.fill });
    log.warn({ post: e.post, attemptId: e.attempt.attemptId, stage: e.stage, waitMs }, 'a fill was interrupted: re-weighing it before its record is committed');
    const sample = await firstStable(devices, e.post, waitMs);
    extras[e.attempt.attemptId] = reweighAfterRestart(e.attempt, sample, c);
  };
  await Promise.all(entries.map(weigh));
  const records = store.recoverInterrupted(extras);
  const overfilled: OverfillFinding[] = [];
  for (const r of records) {
    log.warn({ seq: r.seq, post: r.post, code: r.cylinderCode, netFilledG: r.netFilledG, reweighedNetG: r.reweighedNetG, detail: r.trips.at(-1)?.detail }, 'recorded a fill interrupted by the previous run');
    const content = r.reweighedNetG;
    if (r.cylinderCode && content !== undefined && r.allowedFillG !== undefined && content > r.allowedFillG) {
      overfilled.push({ post: r.post, attemptId: r.id, cylinderCode: r.cylinderCode, contentKg: content / 1000, allowedFillKg: r.allowedFillG / 1000, grossKg: r.reweighedGrossG === undefined ? undefined : r.reweighedGrossG / 1000 });
    }
  }
  return { records, overfilled };
}

/**
 * Quarantine each overfilled cylinder as must-decant (超量气瓶严禁出站, domain.md 1): a decant hold, as
 * for an overfill seen during a fill, so only a supervisor's recorded decant releases it.
 */
export function quarantineOverfilled(
  registry: { holdForDecant(code: string, o: { attemptId?: string; overKg?: number; source: string }): unknown },
  found: readonly OverfillFinding[],
  log: Logger,
): void {
  for (const f of found) {
    try {
      registry.holdForDecant(f.cylinderCode, { attemptId: f.attemptId, overKg: round(f.contentKg - f.allowedFillKg), source: 'recovery' });
    } catch (err) {
      log.error({ code: f.cylinderCode, err: errorMessage(err) }, 'overfilled cylinder NOT quarantined');
    }
    log.error({ post: f.post, code: f.cylinderCode, contentKg: f.contentKg, allowedFillKg: f.allowedFillKg, attemptId: f.attemptId }, `OVERFILLED cylinder ${f.cylinderCode}: quarantined, must decant`);
  }
}

/** The alarm for an overfilled cylinder found at start, on the station's alarm topic (like a leak alarm). */
export function overfillAlarm(f: OverfillFinding, wallMs: number, utcOffsetMinutes: number) {
  return {
    id: `overfill-${f.attemptId}`,
    kind: 'overfill' as const,
    active: true,
    device: `${f.post}.scale`,
    detail: `cylinder ${f.cylinderCode}: ${f.contentKg} kg, allowed ${f.allowedFillKg} kg, after an interrupted fill; quarantined, must decant`,
    at: isoWithOffset(wallMs, utcOffsetMinutes),
  };
}
