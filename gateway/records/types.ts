import type { RefusalCode, TripCode } from '../reasons.ts';

/**
 * One fill attempt as the post controller reports it. The record store turns it
 * into an append-only, sequenced, hash-chained, signed record (record format v1).
 * Every attempt, refused ones included, becomes exactly one record.
 */
export type FillOutcome =
  | 'filled' // closed out, in tolerance
  | 'underfilled' // closed out under tolerance (after any top-up)
  | 'overfilled' // over tolerance: must decant, never "OK"
  | 'filled_unchecked' // left the station without a completed post-fill check (checker and re-weigh): an exception, never "filled"
  | 'unauthorised_fill' // the weight rose with no open attempt or with the valve closed: gas added outside the system
  | 'refused' // never opened: an eligibility refusal
  | 'tripped' // valve closed by an interlock before the target
  | 'aborted' // operator stop or cylinder removed before filling
  | 'interrupted'; // the gateway died mid-fill; written on restart

export type ToleranceState = 'under' | 'in' | 'over';
export type Medium = 'LPG' | 'DME';

export interface Person {
  badge: string;
  name?: string;
  certificate?: string;
  /** Expiry date (YYYY-MM-DD) of the certificate (P证) on the day of the record. */
  certificateExpires?: string;
}

export interface CheckItem {
  item: string;
  ok: boolean;
  note?: string;
}

export interface CheckRecord {
  by: Person;
  /** ISO 8601 with offset. */
  at: string;
  items: CheckItem[];
}

export interface FillAttempt {
  /** Unique id of the attempt (UUID), the upload's idempotency key with the station. */
  attemptId: string;
  station: string;
  unit: string;
  post: string;
  outcome: FillOutcome;
  cylinderCode?: string;
  valveCode?: string;
  medium?: Medium;
  model?: string;
  filler?: Person;
  checker?: Person;
  tareKg?: number;
  residualKg?: number;
  allowedFillKg?: number;
  targetKg?: number;
  preactKg?: number;
  netFilledKg?: number;
  /** Gross mass on the re-weigh (check-weigh) scale, and the net it implies. */
  reweighedGrossKg?: number;
  reweighedNetKg?: number;
  reweighScale?: string;
  deviationKg?: number;
  toleranceState?: ToleranceState;
  mustDecant?: boolean;
  /** The post-fill check was not completed (no checker, or no re-weigh) when the cylinder left. */
  postFillCheckMissing?: boolean;
  /** Stable gross on the post scale when the code was read: the cylinder's weight is compared with it until the valve closes. */
  scanGrossKg?: number;
  /** Top-up pulses after the main cut-off (each a valve open under every interlock of the main open). */
  topUps?: number;
  /**
   * How the main cut-off was planned (issue 14 point 2): `conservative` (valve timing or cylinder model
   * not learned yet: cut early, finish with top-ups), `single` (one learned cut), `twoStage` (learned,
   * cut short and finished with one measured pulse).
   */
  cutPlan?: 'conservative' | 'single' | 'twoStage';
  preFillCheck?: CheckRecord;
  postFillCheck?: CheckRecord;
  /** ISO 8601 with offset (wall clock, for people). */
  startedAt?: string;
  endedAt?: string;
  /** From the monotonic clock: a PC clock jump cannot change it. */
  durationMs?: number;
  trips: { code: TripCode; at: string; grossKg?: number; detail?: string }[];
  refusals: { code: RefusalCode; detail?: string }[];
  fillCount?: number;
  lastFillAt?: string;
  nextInspectionDue?: string;
}
