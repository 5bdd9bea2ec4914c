/**
 * Builds the FillAttempt the controller hands to the record store: one per
 * attempt, refused ones included. Wall times are ISO 8601 with the zone offset
 * (GB/T 7408), labelled from the last wall-clock reading plus monotonic time
 * since, so a PC clock jump mid-fill cannot bend a duration (durations come
 * from the monotonic clock alone).
 */
import type { FillAttempt, FillOutcome } from '../records/types.ts';
import type { AttemptBase, Command, CylinderFacts, FillRun, JournalStage, PostContext, ReadyAttempt, VerifiedAttempt } from './types.ts';

const round = (kg: number) => Math.round(kg * 1000) / 1000;

/** `2026-01-01T08:00:00.000+08:00` for an epoch and an offset in minutes. */
export function isoWithOffset(epochMs: number, offsetMinutes: number): string {
  const local = new Date(epochMs + offsetMinutes * 60_000).toISOString().slice(0, 23);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${local}${sign}${hh}:${mm}`;
}

/** Wall label of a monotonic time. */
export function wallIso(ctx: PostContext, mono: number): string {
  return isoWithOffset(ctx.wallRef.epoch + (mono - ctx.wallRef.mono), ctx.cfg.utcOffsetMinutes);
}

const isVerified = (a: AttemptBase): a is VerifiedAttempt => 'cylinder' in a;
const isReady = (a: AttemptBase): a is ReadyAttempt => 'targetKg' in a;
const isRun = (a: AttemptBase): a is FillRun => 'fillStartedAt' in a;

/**
 * Everything the attempt knows so far, as a FillAttempt with the given outcome;
 * `extra` adds what the caller knows on top (masses, checks, trips, refusals).
 */
export function attemptRecord(ctx: PostContext, a: AttemptBase, outcome: FillOutcome, now: number, extra: Partial<FillAttempt> = {}): FillAttempt {
  const { cfg } = ctx;
  const rec: FillAttempt = {
    attemptId: a.id,
    station: cfg.station,
    unit: cfg.unit,
    post: cfg.post,
    outcome,
    cylinderCode: a.code,
    trips: [],
    refusals: [],
    startedAt: wallIso(ctx, a.openedAt),
    endedAt: wallIso(ctx, now),
  };
  if (a.filler) rec.filler = a.filler;
  if (a.preFill) rec.preFillCheck = a.preFill;
  if (a.scanGrossKg !== undefined) rec.scanGrossKg = round(a.scanGrossKg);
  if (isVerified(a)) addCylinder(rec, a);
  if (isReady(a)) {
    rec.residualKg = round(a.startGrossKg - a.cylinder.tareKg);
    rec.targetKg = round(a.targetKg);
    rec.preactKg = round(a.preact.preactKg);
  }
  if (isRun(a)) {
    rec.preactKg = round(a.preactUsedKg);
    rec.startedAt = a.fillStartedWall;
    rec.topUps = a.topUps;
    if (a.plan) rec.cutPlan = a.plan;
    const end = a.lastCloseAt ?? now;
    rec.endedAt = a.lastCloseWall ?? wallIso(ctx, end);
    rec.durationMs = Math.round(end - a.fillStartedAt);
  }
  return { ...rec, ...extra, trips: [...rec.trips, ...(extra.trips ?? [])], refusals: [...rec.refusals, ...(extra.refusals ?? [])] };
}

function addCylinder(rec: FillAttempt, a: VerifiedAttempt): void {
  Object.assign(rec, cylinderFields(a.cylinder));
}

/** The record fields a (possibly partial) registry answer gives; non-finite masses are left out. */
export function cylinderFields(c: Partial<CylinderFacts>): Partial<FillAttempt> {
  const out: Partial<FillAttempt> = {};
  if (c.medium !== undefined) out.medium = c.medium;
  if (c.model !== undefined) out.model = c.model;
  if (c.valveCode !== undefined) out.valveCode = c.valveCode;
  if (Number.isFinite(c.tareKg)) out.tareKg = c.tareKg;
  if (Number.isFinite(c.allowedFillKg)) out.allowedFillKg = c.allowedFillKg;
  if (Number.isFinite(c.residualKg)) out.residualKg = c.residualKg;
  if (c.fillCount !== undefined) out.fillCount = c.fillCount;
  if (c.lastFillAt !== undefined) out.lastFillAt = c.lastFillAt;
  if (c.nextInspectionDue !== undefined) out.nextInspectionDue = c.nextInspectionDue;
  return out;
}

/** Net filled and content from a gross reading, rounded to the gram. */
export function masses(a: ReadyAttempt, grossKg: number): { netFilledKg: number; contentKg: number } {
  return { netFilledKg: round(grossKg - a.startGrossKg), contentKg: round(grossKg - a.cylinder.tareKg) };
}

/**
 * The journal write of an attempt: what its `interrupted` record would carry now (the store adds the
 * one PROCESS_INTERRUPTED trip when it recovers it).
 */
export function journal(attempt: FillAttempt, stage: JournalStage, opens = false): Command {
  return { kind: 'markInProgress', attempt: { ...attempt, outcome: 'interrupted' }, stage, ...(opens ? { opens } : {}) };
}

export { round as roundKg };
