/**
 * Runs one post's pure controller against its real devices: feeds it samples,
 * code reads, button edges and valve reports, executes the commands it returns,
 * and ticks it when it asks. Safety-first ordering: closeValve commands are
 * executed before anything else in a step, and a controller state that says
 * "closed" while the valve driver says otherwise closes the valve again.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { Signal, type Unsubscribe } from '../../protocols/signal.ts';
import type { CodeRead } from '../../devices/types.ts';
import { initialState, transition, valveMayBeOpen } from '../controller/index.ts';
import type { Command, CylinderFacts, OperatorFacts, PostInput, PostState, PreactEntry, PreactTable, ControllerConfig, LockKind, InitialOptions, ValveTiming } from '../controller/index.ts';
import type { FillAttempt } from '../records/types.ts';
import type { Logger } from '../log.ts';
import type { PostDevices } from './devices.ts';

export type VerifyAnswer =
  | { kind: 'verified'; cylinder: CylinderFacts }
  | { kind: 'refused'; refusals: { code: import('../reasons.ts').RefusalCode; detail?: string }[]; cylinder?: Partial<CylinderFacts> };

/** What a post needs from the station around it. */
export interface PostEnv {
  clock: Clock;
  log: Logger;
  verify(post: string, code: string): Promise<VerifyAnswer>;
  lookupOperator(badge: string): OperatorFacts | undefined;
  /** Commits the attempt's record; throws when it could not be committed. */
  commit(attempt: FillAttempt): void;
  /** Writes the post's in-progress journal (`opens`: before a valve open; may refuse with STORE_FULL). */
  markInProgress(post: string, attempt: FillAttempt, opts?: { stage?: string; opens?: boolean }): void;
  clearInProgress(post: string): void;
  savePreact(post: string, model: string, entry: PreactEntry): void;
  /** Persists the valve's learned timing for this post (the station keys it by the valve's wire address). */
  saveTiming?(post: string, timing: ValveTiming): void;
  /** A commit or journal write failed: the station must lock (store). */
  storeFailed(err: unknown): void;
  /** The controller accepted this badge as the attempt's filler (BadgeSessions: badge-in at this post). */
  fillerAccepted?(post: string, badge: string): void;
  /** A phase change at the post: activity that keeps the filler's badge session alive. */
  activity?(post: string): void;
  /** A supervisor's badge at a post resets a station-wide leak lock once the alarm has cleared; true when it was that. */
  supervisorReset?(badge: string): boolean;
}

export type PostEvent =
  /** `by`: who reset the post, when a reset took it out of fault. */
  | { kind: 'phase'; post: string; phase: string; attemptId?: string; reason?: string; by?: string }
  | { kind: 'display'; post: string; reason: string; detail?: string }
  | { kind: 'record'; post: string; attempt: FillAttempt }
  | { kind: 'valve'; post: string; command: 'open' | 'close'; reason?: string }
  /**
   * Something for the station's alarm and the signed event log (issue 10 points 1 and 5): `code`
   * LEFT_UNCHECKED or UNAUTHORISED_FILL; `attemptId` is the record that documents it.
   */
  | { kind: 'event'; post: string; code: StationEventCode; attemptId: string; cylinderCode?: string; detail?: string; at: string; by?: string; data?: Record<string, unknown> };

/**
 * Events for the signed event log (issue 10 point 6, another engineer): raised by a post (LEFT_UNCHECKED,
 * UNAUTHORISED_FILL) or by the station (DECANT_HOLD when an overfilled cylinder is held, DECANT_RECORDED
 * when a supervisor records its decant, EXCEPTION_CLOSED when a supervisor closes out an open exception).
 */
export type StationEventCode = 'LEFT_UNCHECKED' | 'UNAUTHORISED_FILL' | 'DECANT_HOLD' | 'DECANT_RECORDED' | 'EXCEPTION_CLOSED';

/** Phases before a fill opens the valve, or at rest (with ctx.awaitRemoval: the valve was open for the cylinder still there). */
const VALVE_NOT_OPENED: ReadonlySet<string> = new Set(['idle', 'closedOut', 'aborted', 'identified', 'verified', 'cylinderReady']);

/** Phases with the valve open: a close decided in them is timed on the wire. */
const VALVE_OPEN_KINDS: ReadonlySet<string> = new Set(['filling', 'toppingUp']);

/** Store writes that wait for the close's request to be on the socket when their step closes the valve. */
const STORE_AFTER_CLOSE = new Set<Command['kind']>(['record', 'clearInProgress', 'learnPreact', 'learnTiming']);
/** The longest a closing step's disk writes wait for its OFF to reach the wire (one default request timeout). */
const CLOSE_SENT_WAIT_MS = 300;

export class PostRuntime {
  readonly id: string;
  readonly events = new Signal<PostEvent>();
  private state: PostState;
  private queue: PostInput[] = [];
  private draining = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt: number | undefined;
  private subs: Unsubscribe[] = [];
  /** Valve closes commanded so far: an open waiting for the setpoint is dropped when this moved. */
  private closes = 0;
  /** A close not confirmed was logged; reset when a close is confirmed (one warning per episode, not one per retry). */
  private closeWarned = false;
  private unreachableLogged = false;
  /** A journal update of a step that closed the valve, written once the close has gone out (setImmediate). */
  private pendingJournal: Extract<Command, { kind: 'markInProgress' }> | undefined;
  /** Store commands of a step that closed the valve, written once the close's OFF is on the wire. */
  private deferredStore: Command[] = [];
  /** The commands of the last step (for benchmarks and tests that watch what a step produced). */
  lastCommands: Command[] = [];

  constructor(
    private readonly cfg: ControllerConfig,
    private readonly devices: PostDevices,
    private readonly env: PostEnv,
    preacts: PreactTable,
    locks: readonly LockKind[],
    /** The fault the previous run left this post in (persisted latch): it starts there. */
    fault?: InitialOptions['fault'],
    /** The valve's learned timing (issue 14 point 2), none for a first fill or another valve. */
    timing?: ValveTiming,
  ) {
    this.id = cfg.post;
    this.state = initialState(cfg, { preacts, locks, now: env.clock.now(), wall: env.clock.wall(), ...(fault ? { fault } : {}), ...(timing ? { timing } : {}) });
  }

  /** performance.now() of the last close decision: the wire timing of the close that follows it is the controller's. */
  private closeDecidedAt = Number.NaN;
  private openDecidedAt = Number.NaN;

  get snapshot(): PostState {
    return this.state;
  }

  start(): void {
    const d = this.devices;
    this.subs.push(
      d.scale.samples.on((sample) => this.input({ kind: 'sample', sample })),
      d.reader.reads.on((read) => this.onRead(read)),
      d.valve.faults.on((f) => this.onValveFault(f)),
      // Decision → OFF on the socket → feedback closed, for the controller's valve timing.
      ...(d.valve.closeTimings
        ? [d.valve.closeTimings.on((t) => {
            const decided = this.closeDecidedAt;
            if (!(t.sentAt >= decided)) return;
            this.closeDecidedAt = Number.NaN; // one report per decision
            // Decision → OFF on the socket: what the outside-in bench measures from outside (issue 14).
            this.env.log.debug({ post: this.id, sentAfterMs: Math.round((t.sentAt - decided) * 10) / 10 }, 'valve close on the wire');
            this.input({ kind: 'valveTiming', event: 'close', sentAfterMs: t.sentAt - decided, ...(t.closedAt !== undefined && Number.isFinite(t.closedAt) ? { feedbackAfterMs: t.closedAt - t.sentAt } : {}) });
          })]
        : []),
      ...(d.valve.openTimings
        ? [d.valve.openTimings.on((t) => {
            const decided = this.openDecidedAt;
            if (!(t.sentAt >= decided)) return;
            if (t.openedAt !== undefined) this.openDecidedAt = Number.NaN; // the confirmation is the last report of this open
            this.input({ kind: 'valveTiming', event: 'open', sentAfterMs: t.sentAt - decided, ...(t.openedAt !== undefined && Number.isFinite(t.openedAt) ? { feedbackAfterMs: t.openedAt - t.sentAt } : {}) });
          })]
        : []),
      // The module answers again: the next outage is worth its own warning.
      d.valve.health.on((h) => {
        if (h.state === 'online') this.unreachableLogged = this.closeWarned = false;
      }),
    );
    if (d.startInput) this.subs.push(d.startInput.edges.on((e) => e.value && this.input({ kind: 'start' })));
    if (d.stopInput) this.subs.push(d.stopInput.edges.on((e) => e.value && this.input({ kind: 'stop' })));
  }

  /**
   * A valve fault becomes a controller input (a trip, a latched fault) when the valve may be open
   * or did not do what it was told (feedback, not confirmed). A relay module that cannot be
   * reached while the valve is commanded closed is not that (issue 12 point 7): the driver keeps
   * retrying the close by itself, the device shows offline, and new fills are refused with the
   * reason (verify: DEVICE_OFFLINE); latching every post for a supervisor would say nothing more.
   */
  private onValveFault(f: { code: string; message: string }): void {
    const unreachable = f.code === 'VALVE_WRITE' || f.code === 'VALVE_KEEPALIVE';
    // Only where the valve has not been open for the cylinder on the scale (right after a fill a close
    // that cannot be written stays a trip), or the post is already in fault (the driver retries anyway).
    const { phase, ctx } = this.state;
    const quiet = phase.kind === 'fault' || (VALVE_NOT_OPENED.has(phase.kind) && !ctx.awaitRemoval);
    if (unreachable && quiet) {
      if (!this.unreachableLogged) this.env.log.warn({ err: f.message }, 'relay module unreachable: valve commanded closed, close retried; fills refused until it answers');
      this.unreachableLogged = true;
      return;
    }
    this.input(f.code === 'VALVE_FEEDBACK' ? { kind: 'valveMismatch', detail: f.message } : { kind: 'valveFault', detail: f.message });
  }

  stop(): void {
    for (const off of this.subs) off();
    this.subs = [];
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.flushStore();
    this.flushJournal();
  }

  /** Feed one input; inputs arriving while a step runs are queued, never interleaved. */
  input(input: PostInput): void {
    this.queue.push(input);
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) this.step(this.queue.shift() as PostInput);
    } finally {
      this.draining = false;
    }
  }

  private pendingExceptions: { item: string; ok: boolean; note?: string }[] | undefined;

  /**
   * Pre-fill check items the filler found not OK on this cylinder (entered at the post's screen);
   * the filler's next badge confirms the checklist with these exceptions, and the attempt is refused.
   */
  setPreFillExceptions(items: { item: string; note?: string }[]): void {
    this.pendingExceptions = items.map((i) => ({ item: i.item, ok: false, ...(i.note ? { note: i.note } : {}) }));
  }

  /** A code read at this post: badges carry the registry's facts about the operator. */
  onRead(read: CodeRead, exceptions = this.pendingExceptions): void {
    if (read.kind === 'badge') this.pendingExceptions = undefined;
    if (read.kind === 'badge') {
      const operator = this.env.lookupOperator(read.code);
      if (operator?.roles.includes('supervisor') && this.env.supervisorReset?.(read.code)) return;
      // A post in fault is reset by a supervisor's badge, after the cause is gone (the controller refuses a reset under a leak lock).
      if (this.state.phase.kind === 'fault' && operator?.roles.includes('supervisor')) {
        this.input({ kind: 'reset', by: read.code });
        return;
      }
      const fillerBefore = this.fillerBadge();
      this.input({ kind: 'code', read, ...(operator ? { operator } : {}), ...(exceptions ? { exceptions } : {}) });
      const filler = this.fillerBadge();
      if (filler === read.code && fillerBefore !== filler) this.env.fillerAccepted?.(this.id, read.code);
    } else {
      // A UUID per attempt: the record's id, and the upload's idempotency key.
      this.input({ kind: 'code', read, attemptId: randomUUID() });
    }
  }

  /** The badge of the open attempt's filler, if one confirmed the pre-fill check. */
  private fillerBadge(): string | undefined {
    const ph = this.state.phase as { attempt?: { filler?: { badge: string } }; run?: { filler?: { badge: string } } };
    return (ph.attempt ?? ph.run)?.filler?.badge;
  }

  private step(input: PostInput): void {
    const now = this.env.clock.now();
    const before = this.state.phase.kind;
    const step = transition(this.state, { ...input, wall: this.env.clock.wall() }, now);
    this.state = step.state;
    this.lastCommands = step.commands;
    // A failed journal write must stop the valve from opening in this same step; a failed record
    // commit keeps the in-progress journal, so the attempt is written as interrupted at the next start.
    let failed = false;
    // A journal update that does not gate an open is written after the step's other commands (one
    // write per step); in a step that closes the valve, only once the close has gone out to the bus.
    let update: Extract<Command, { kind: 'markInProgress' }> | undefined;
    // The OFF frame goes out before any commit (a synchronous=FULL fsync is milliseconds): in a step
    // that closes the valve, the record, the journal clear and the preact are written once the event
    // loop has turned, after the close's request is on the socket (issue 14: a trip's record was
    // committed before its OFF left, so on a busy bus the OFF waited behind the disk).
    const closes = step.commands.some((c) => c.kind === 'closeValve');
    const closeDecidedAt = performance.now();
    if (closes && VALVE_OPEN_KINDS.has(before)) this.closeDecidedAt = closeDecidedAt;
    for (const cmd of step.commands) {
      if (failed && (cmd.kind === 'openValve' || cmd.kind === 'clearInProgress')) continue;
      if (cmd.kind === 'markInProgress' && !cmd.opens) {
        update = cmd;
        continue;
      }
      if (STORE_AFTER_CLOSE.has(cmd.kind)) {
        if (closes) {
          this.deferStore(cmd);
          continue;
        }
        this.flushStore(); // earlier deferred writes first: the store sees them in order
      }
      if (!this.execute(cmd)) failed = true;
    }
    if (update) {
      if (closes) this.pendingJournal = update;
      else this.writeJournal(update);
    }
    if (closes && (this.deferredStore.length > 0 || this.pendingJournal)) this.flushAfterClose(closeDecidedAt);
    this.guardValve();
    if (this.state.phase.kind !== before) {
      const p = this.state.phase as { kind: string; attemptId?: string; reason?: string };
      const by = input.kind === 'reset' ? input.by : undefined;
      this.events.emit({ kind: 'phase', post: this.id, phase: p.kind, attemptId: p.attemptId, reason: p.reason, ...(by ? { by } : {}) });
      this.env.activity?.(this.id);
    }
    this.schedule(step.wakeAt);
  }

  /** Returns false when a command that gates the valve failed. */
  private execute(cmd: Command): boolean {
    const { env } = this;
    switch (cmd.kind) {
      case 'closeValve':
        this.closeValve(cmd.reason);
        return true;
      case 'openValve':
        this.openDecidedAt = performance.now();
        this.openValve(cmd.limitGrossKg);
        return true;
      case 'verify':
        env.verify(this.id, cmd.code).then(
          (a) => this.input({ ...a, attemptId: cmd.attemptId }),
          (err) => this.input({ kind: 'refused', attemptId: cmd.attemptId, refusals: [{ code: 'DEVICE_OFFLINE', detail: `verification failed: ${errorMessage(err)}` }] }),
        );
        return true;
      case 'record':
        try {
          env.commit(cmd.attempt);
          this.events.emit({ kind: 'record', post: this.id, attempt: cmd.attempt });
          return true;
        } catch (err) {
          env.log.error({ err: errorMessage(err), attempt: cmd.attempt.attemptId }, 'fill record NOT committed');
          env.storeFailed(err);
          return false;
        }
      case 'markInProgress':
        try {
          this.dropPendingJournal(); // this write is newer
          env.markInProgress(this.id, cmd.attempt, { stage: cmd.stage, opens: true });
          return true;
        } catch (err) {
          // Without the journal an interrupted fill could go unrecorded: do not open.
          env.log.error({ err: errorMessage(err) }, 'in-progress journal write failed: valve stays closed');
          env.storeFailed(err);
          return false;
        }
      case 'clearInProgress':
        this.dropPendingJournal();
        this.tryStore(() => env.clearInProgress(this.id));
        return true;
      case 'learnPreact':
        this.tryStore(() => env.savePreact(this.id, cmd.model, cmd.entry));
        return true;
      case 'learnTiming':
        if (cmd.changed) env.log.warn({ closeMs: Math.round(cmd.timing.closeMs) }, 'valve timing changed: the next fill cuts off conservatively and is finished with top-ups');
        this.tryStore(() => env.saveTiming?.(this.id, cmd.timing));
        return true;
      case 'status':
        return true;
      case 'alarm':
        this.events.emit({
          kind: 'event', post: this.id, code: cmd.code, attemptId: cmd.attemptId,
          ...(cmd.cylinderCode ? { cylinderCode: cmd.cylinderCode } : {}), ...(cmd.detail ? { detail: cmd.detail } : {}),
          at: new Date(env.clock.wall()).toISOString(),
        });
        return true;
      case 'display':
        this.events.emit({ kind: 'display', post: this.id, reason: cmd.reason, detail: cmd.detail });
        return true;
    }
  }

  /**
   * Where the post's scale has a setpoint limit (issue 9 point 7), program the indicator's own
   * setpoint at the gross limit and read it back first: one write and one read on the bus, then
   * the coil. A failure or a different read-back never opens; the controller trips with
   * SETPOINT_LIMIT. A close commanded meanwhile (stop, trip) wins: the open is dropped.
   */
  private openValve(limitGrossKg: number): void {
    this.events.emit({ kind: 'valve', post: this.id, command: 'open' });
    const open = () => {
      const closesAtOpen = this.closes;
      return this.devices.valve.open().then(
        () => this.input({ kind: 'valveOpened' }),
        (err) => {
          // The post closed the valve before the open was confirmed (a short top-up pulse, a
          // trip, a stop): the driver rejects the open it overtook. That is the close working,
          // not a valve fault; the close loop reports its own failures (faults signal).
          if (this.closes !== closesAtOpen) {
            this.env.log.debug({ err: errorMessage(err) }, 'open overtaken by a close this post commanded');
            return;
          }
          this.input({ kind: 'valveFault', detail: errorMessage(err) });
        },
      );
    };
    const limit = this.devices.setpointLimit;
    if (!limit) {
      void open();
      return;
    }
    const closes = this.closes;
    limit.programLimit(limitGrossKg).then(
      (programmedKg) => {
        if (this.closes !== closes || !valveMayBeOpen(this.state)) {
          this.env.log.info({ limitGrossKg }, 'setpoint programmed, but the valve was commanded closed meanwhile: not opening');
          return;
        }
        this.env.log.debug({ limitGrossKg, programmedKg }, 'scale setpoint programmed and read back');
        void open();
      },
      (err) => {
        this.env.log.error({ err: errorMessage(err), limitGrossKg }, 'scale setpoint not confirmed: valve stays closed');
        this.input({ kind: 'limitFault', detail: errorMessage(err) });
      },
    );
  }

  private closeValve(reason: string): void {
    this.closes++;
    this.events.emit({ kind: 'valve', post: this.id, command: 'close', reason });
    // The driver retries a close until confirmed and reports faults itself: warn once per episode.
    this.devices.valve.close(reason).then(
      () => {
        this.closeWarned = false;
        this.unreachableLogged = false;
      },
      (err) => {
        if (this.closeWarned) return;
        this.closeWarned = true;
        this.env.log.warn({ err: errorMessage(err), reason }, 'valve close not yet confirmed (retrying)');
      },
    );
  }

  /** Belt and braces: the controller says closed, the driver says open or opening → close again. */
  private guardValve(): void {
    const v = this.devices.valve.state;
    if (!valveMayBeOpen(this.state) && (v === 'open' || v === 'opening')) this.closeValve('CONTROLLER_STATE');
  }

  /** A journal update (not gating an open): a failure locks the station like a failed commit, the valve is not touched. */
  private writeJournal(cmd: Extract<Command, { kind: 'markInProgress' }>): void {
    this.dropPendingJournal();
    try {
      this.env.markInProgress(this.id, cmd.attempt, { stage: cmd.stage });
    } catch (err) {
      this.env.log.error({ err: errorMessage(err), attempt: cmd.attempt.attemptId, stage: cmd.stage }, 'in-progress journal update failed');
      this.env.storeFailed(err);
    }
  }

  /** Store commands of a closing step, written once its OFF is on the wire (see step()). */
  private deferStore(cmd: Command): void {
    this.deferredStore.push(cmd);
  }

  /**
   * The closing step's store writes (record, journal) wait until the valve driver has put the OFF on
   * the wire, at most CLOSE_SENT_WAIT_MS (a close behind a silent unit waits one request timeout), and
   * at least one event-loop turn. A later step's store write flushes them first, so order is kept.
   */
  private flushAfterClose(decidedAt: number): void {
    const barrier = this.devices.valve.whenCloseSent?.(decidedAt, CLOSE_SENT_WAIT_MS) ?? Promise.resolve();
    const flush = () => {
      this.flushStore();
      this.flushJournal();
    };
    void barrier.then(() => setImmediate(flush));
  }

  private flushStore(): void {
    const cmds = this.deferredStore.splice(0);
    let failed = false;
    for (const cmd of cmds) {
      // A record that could not be committed keeps its journal (the restart records it as interrupted).
      if (failed && cmd.kind === 'clearInProgress') continue;
      if (!this.execute(cmd)) failed = true;
    }
  }

  private flushJournal(): void {
    const cmd = this.pendingJournal;
    if (cmd) this.writeJournal(cmd);
  }

  private dropPendingJournal(): void {
    this.pendingJournal = undefined;
  }

  private tryStore(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.env.log.error({ err: errorMessage(err) }, 'store write failed');
    }
  }

  private schedule(wakeAt: number | undefined): void {
    if (wakeAt === undefined) {
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
      this.wakeAt = undefined;
      return;
    }
    if (this.wakeTimer && this.wakeAt === wakeAt) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = wakeAt;
    const delay = Math.max(0, wakeAt - this.env.clock.now());
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = undefined;
      this.input({ kind: 'tick' });
    }, Math.ceil(delay));
  }
}
