/**
 * Types of the post controller: a pure state machine per filling post
 * (engineering.md example 4). States, inputs and commands are string-literal
 * tagged unions; each state carries exactly the facts it needs, so e.g. a
 * `filling` state without a verified cylinder, a filler and a target cannot
 * be built.
 */
import type { CodeRead, WeightSample } from '../../devices/types.ts';
import type { ReasonCode, RefusalCode, TripCode } from '../reasons.ts';
import type { CheckItem, CheckRecord, FillAttempt, FillOutcome, Medium, Person, ToleranceState } from '../records/types.ts';
import type { ControllerConfig } from './config.ts';
import type { CutPlan, ValveTiming } from './cutoff-plan.ts';

export type { ControllerConfig } from './config.ts';
export type { CutPlan, ValveTiming } from './cutoff-plan.ts';

/** What the registry knows about the scanned cylinder (fed back in the `verified` input). */
export interface CylinderFacts {
  code: string;
  valveCode?: string;
  model: string;
  tareKg: number;
  /** Allowed fill mass stamped on the cylinder (GB 5842-2023): the hard limit of its content. */
  allowedFillKg: number;
  medium: Medium;
  /** Estimated gas left in it; the measured gross on the scale is what counts. */
  residualKg?: number;
  /** Explicit target content (kg) for a partial fill; never above allowed − targetBelowMaxKg. */
  targetKg?: number;
  fillCount?: number;
  lastFillAt?: string;
  nextInspectionDue?: string;
}

export type OperatorRole = 'filler' | 'checker' | 'supervisor';

/** What the registry knows about a badge; the runtime looks it up before feeding the read. */
export interface OperatorFacts {
  person: Person;
  roles: readonly OperatorRole[];
  /** Filling-operator certificate (P证) valid today. */
  certificateValid: boolean;
  /**
   * The post where this person (by certificate, not badge) is badged in as filler with an open
   * attempt, when that is not this post and one filler may work one post only (BadgeSessions).
   */
  busyAt?: string;
}

/** `remote`: locked by a signed remote command (gateway/remote/), lifted only by a remote unlock. */
export type LockKind = 'leak' | 'upload' | 'store' | 'remote';

/** Learned in-flight mass per cylinder model at this post (the runtime persists it). */
export interface PreactEntry {
  preactKg: number;
  /** Flow at which it was learned: the in-flight mass scales with the flow. */
  flowKgPerS?: number;
  fills: number;
}
export type PreactTable = Readonly<Record<string, PreactEntry>>;

type InputBody =
  | { kind: 'sample'; sample: WeightSample }
  /** A reading of the station's check-weigh scale; `code` when a reader there identified the cylinder. */
  | { kind: 'checkweigh'; sample: WeightSample; code?: string }
  /** A cylinder code or a badge. Badges come with the registry's facts (none = unknown badge); `exceptions` are checklist items marked not ok. */
  | { kind: 'code'; read: CodeRead; attemptId?: string; operator?: OperatorFacts; exceptions?: CheckItem[] }
  | { kind: 'verified'; attemptId: string; cylinder: CylinderFacts }
  | { kind: 'refused'; attemptId: string; refusals: { code: RefusalCode; detail?: string }[]; cylinder?: Partial<CylinderFacts> }
  | { kind: 'start' }
  | { kind: 'stop' }
  | { kind: 'valveOpened' }
  | { kind: 'valveClosed' }
  | { kind: 'valveFault'; detail?: string }
  /**
   * Timing of the last open or close as the runtime saw it on the wire: decision → frame on the
   * socket (`sentAfterMs`, the bus's onSend), and frame → the feedback input showing the new
   * position (`feedbackAfterMs`), where the relay module has one.
   */
  | { kind: 'valveTiming'; event: 'open' | 'close'; sentAfterMs: number; feedbackAfterMs?: number }
  | { kind: 'valveMismatch'; detail?: string }
  /** The scale's setpoint (the independent overfill limit) could not be programmed, or read back differently: the valve was not opened. */
  | { kind: 'limitFault'; detail?: string }
  | { kind: 'leakAlarm'; active: boolean }
  | { kind: 'stationLock'; lock: 'upload' | 'store' | 'remote'; active: boolean }
  /** Operator acknowledges a fault (after the cause is gone); `by` names who, for the latch history only. */
  | { kind: 'reset'; by?: string }
  /** The filler's badge session at this post lapsed (badgeIdleTimeoutMs without activity): the pre-fill confirmation no longer stands. */
  | { kind: 'badgeLapsed' }
  | { kind: 'tick' };

/** Every input may carry the wall clock (epoch ms) read at the same moment as `now`; records are labelled from it. */
export type PostInput = InputBody & { wall?: number };
export type InputKind = PostInput['kind'];

/** Why the valve is closed: a trip code, or a normal end of flow. */
export type CloseReason = TripCode | 'TARGET' | 'TOP_UP_END';

export type Command =
  /** Open the valve; `limitGrossKg` (tare + allowed fill mass) is what the scale's own setpoint is programmed to first, where it has one. */
  | { kind: 'openValve'; limitGrossKg: number }
  | { kind: 'closeValve'; reason: CloseReason }
  | { kind: 'verify'; attemptId: string; code: string }
  | { kind: 'record'; attempt: FillAttempt }
  /**
   * Write the in-progress journal: the attempt as an `interrupted` record would carry it now. Written at
   * the scan and at each phase change that matters; `opens`: it precedes a valve open and gates it (a
   * failed write keeps the valve closed). Others are written after the step's other commands, and after
   * any close of the step has reached the driver (issue 13 point 1).
   */
  | { kind: 'markInProgress'; attempt: FillAttempt; stage: JournalStage; opens?: boolean }
  | { kind: 'clearInProgress'; attemptId: string }
  | { kind: 'learnPreact'; model: string; entry: PreactEntry; overshootKg: number }
  /** The valve's timing learned at this fill (persisted per post and valve); `changed`: it no longer matched, start over. */
  | { kind: 'learnTiming'; timing: ValveTiming; changed: boolean }
  | { kind: 'status'; phase: PhaseKind; attemptId?: string; reason?: ReasonCode }
  /**
   * Something the station must raise as an alarm and keep as an open exception until a supervisor
   * closes it out (issue 10 points 1 and 5); the runtime turns it into an `event` PostEvent.
   */
  | { kind: 'alarm'; code: 'LEFT_UNCHECKED' | 'UNAUTHORISED_FILL'; attemptId: string; cylinderCode?: string; detail?: string }
  | { kind: 'display'; reason: ReasonCode; detail?: string };
export type CommandKind = Command['kind'];

/** The phase change a journal write follows. */
export type JournalStage = 'scan' | 'verified' | 'filler' | 'ready' | 'open' | 'cutOff' | 'topUp' | 'settled' | 'reweigh' | 'checker' | 'reweighed';

/** An attempt from the moment a cylinder code was read. */
export interface AttemptBase {
  id: string;
  code: string;
  /** Monotonic ms of the code read. */
  openedAt: number;
  filler?: Person;
  preFill?: CheckRecord;
  /** The last badge presented that could not confirm the pre-fill check, and why (kept for the record). */
  badgeRefused?: { code: RefusalCode; badge: string };
  /** Stable gross when the code was read (or the first stable weight after): the scanned cylinder's weight until the valve closes. */
  scanGrossKg?: number;
}

export interface VerifiedAttempt extends AttemptBase {
  cylinder: CylinderFacts;
}

/** Everything needed to open the valve; all masses gross on the post scale unless named otherwise. */
export interface ReadyAttempt extends VerifiedAttempt {
  filler: Person;
  preFill: CheckRecord;
  startGrossKg: number;
  /** Target content (kg of gas in the cylinder after the fill). */
  targetKg: number;
  targetGrossKg: number;
  /** tare + allowed fill mass: the hard cut-off, checked on every sample. */
  limitGrossKg: number;
  preact: PreactEntry;
}

export interface FillRun extends ReadyAttempt {
  fillStartedAt: number;
  fillStartedWall: string;
  /** Preact actually used for the main cut-off (kg) and the flow then (kg/s). */
  preactUsedKg: number;
  flowAtCutKgPerS?: number;
  topUps: number;
  /** How the main cut-off was planned (cutoff-plan.ts); set at the cut. */
  plan?: CutPlan;
  /** The main cut: decision time, fitted gross then, flow (kg/ms) and the highest gross so far. */
  cut?: { at: number; gKg: number; flowKgPerMs: number; highKg: number };
  /** This fill's close dead time (ms), from the weight curve after the main cut. */
  closeMsThis?: number;
  /** This fill's open dead time (ms): from the main fill's flow line, then from each pulse. */
  openMsThis?: number;
  openFromPulse?: boolean;
  /** At the main cut, where the module has a feedback input: OFF on the wire → feedback closed (the valve's lag), and decision → feedback closed (ms). */
  feedbackMs?: number;
  closeFbMs?: number;
  /** The open dead time came from the wire (decision → feedback open), not from the weight curve. */
  openFromWire?: boolean;
  /**
   * The running or last top-up pulse: open decision, close decision, settled gross before it, planned
   * length, and the time gas should flow (ms) so that the pulse's end can follow the feedback's open.
   */
  pulse?: { openAt: number; closeAt?: number; fromKg: number; ms: number; flowMs: number; sentAfterMs?: number };
  /** The filler's badge session lapsed during the fill: no further top-up opens the valve. */
  badgeLapsed?: boolean;
  /** Monotonic ms and wall label of the last valve close. */
  lastCloseAt?: number;
  lastCloseWall?: string;
  /** Last loaded post-scale reading after the cut-off, in case the cylinder is lifted before it settles. */
  lastGross?: number;
}

/** Live tracking while the valve is open. */
export interface FlowTrack {
  /** Recent samples (monotonic ms, gross kg) for the least-squares slope. */
  window: readonly { t: number; g: number }[];
  maxGrossKg: number;
  /** Last time the weight rose by noFlowMinKg, and the weight then. */
  flowRef: { at: number; g: number };
  /** Predicted time at which gross reaches the cut-off. */
  predictedAt?: number;
  valveConfirmed: boolean;
}

export interface SettledResult {
  grossKg: number;
  contentKg: number;
  tolerance: ToleranceState;
}

export interface Reweigh {
  grossKg: number;
  scale: string;
}

export type Phase =
  | { kind: 'idle' }
  | { kind: 'identified'; attempt: AttemptBase; deadline: number }
  | { kind: 'verified'; attempt: VerifiedAttempt }
  | { kind: 'cylinderReady'; attempt: ReadyAttempt }
  | { kind: 'filling'; run: FillRun; flow: FlowTrack }
  | { kind: 'toppingUp'; run: FillRun; flow: FlowTrack; pulseEndsAt: number }
  | { kind: 'cutOff'; run: FillRun; closedAt: number }
  | { kind: 'settling'; run: FillRun; since: number; readings: readonly number[] }
  | { kind: 'checked'; run: FillRun; result: SettledResult; reweigh?: Reweigh; postFill?: CheckRecord; checker?: Person }
  | { kind: 'reweighed'; run: FillRun; result: SettledResult; reweigh: Reweigh; postFill: CheckRecord; checker: Person }
  | { kind: 'closedOut'; attemptId: string; outcome: FillOutcome }
  | { kind: 'aborted'; attemptId?: string; reason?: ReasonCode }
  | { kind: 'fault'; reason: TripCode; attemptId?: string };
export type PhaseKind = Phase['kind'];

/** Facts about the post that outlive one attempt. */
export interface PostContext {
  readonly cfg: ControllerConfig;
  preacts: PreactTable;
  /** The post valve's learned timing (undefined: not learned, or another valve). */
  timing?: ValveTiming;
  locks: readonly LockKind[];
  /** Last sample from the post's scale. */
  last?: { grossKg: number; stable: boolean; overload: boolean; at: number };
  /** Consecutive stable samples within a division of each other. */
  stableRun: number;
  /** The valve opened for the last attempt and its cylinder has not left the post scale yet (nozzle interlock). */
  awaitRemoval: boolean;
  /** A wall-clock reading and the monotonic time it was taken. */
  wallRef: { mono: number; epoch: number };
  /** Attempts started here, for fallback attempt ids. */
  seq: number;
  /** Inputs rejected as malformed (e.g. a non-finite weight), counted, never acted on. */
  badInputs: number;
  /**
   * The resting weight while no gas should flow (issue 10 point 5): the lowest stable gross since the
   * cylinder was put down; undefined while the valve may be flowing, the scale is empty, or right
   * after a step (a cylinder put on). `prev` is the last sample, to tell a step from flow.
   */
  quiet?: { baseKg?: number; prev?: { g: number; at: number } };
}

export interface PostState {
  readonly ctx: PostContext;
  readonly phase: Phase;
}

export interface Step {
  state: PostState;
  commands: Command[];
  /** Tick the controller at this monotonic time at the latest. */
  wakeAt?: number;
}
