/**
 * The running gateway: writes every valve coil OFF first, then opens the store
 * and registry, writes the records of fills a previous run left unfinished,
 * starts the other devices and runs one PostRuntime per post with the
 * station-wide locks (leak, uploads behind, store near full) fed to all of them.
 */
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from '../sqlite.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { FillgateError, errorMessage, isFillgateError } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import type { ValveDriver, WeightSample } from '../../devices/types.ts';
import { controllerConfig, type PreactEntry, type PreactTable, type LockKind } from '../controller/index.ts';
import type { GatewayConfig } from '../config/config.ts';
import { createLogFactory, type LogFactory, type Logger } from '../log.ts';
import { openRegistry, type Registry } from '../registry/registry.ts';
import { RecordStore } from '../records/store.ts';
import { keysInit, loadPrivateKey, PRIVATE_KEY_FILE } from '../records/keys.ts';
import { recordFillLocks } from '../sync/timeliness.ts';
import { Uploader } from '../sync/uploader.ts';
import { buildDevices, buildValves, type StationDevices, type StationValves } from './devices.ts';
import { closeValvesAgain, closeValvesFirst, stopValves } from './valves-first.ts';
import { PostRuntime, type PostEnv, type PostEvent } from './post.ts';
import { operatorFacts, verifyCylinder } from './verify.ts';
import { startStationMqtt, type StationMqtt } from './mqtt.ts';
import { PreactStore } from './preacts.ts';
import { LatchStore } from './latches.ts';
import { attachLeakLatch, resetLeakLatch, savedFault, trackPostFault } from './latch-wiring.ts';
import { ExceptionStore, type StationException } from './exceptions.ts';
import { BadgeSessions } from '../registry/sessions.ts';
import { samePerson } from '../eligibility/check.ts';
import { localDate } from '../registry/dates.ts';
import type { Operator } from '../registry/types.ts';
import type { Decant } from '../registry/registry.ts';
import type { AlarmKind } from '../mqtt/topics.ts';
import type { StationEventCode } from './post.ts';

export interface StationOptions {
  config: GatewayConfig;
  clock?: Clock;
  logs?: LogFactory;
}

const FILLER_BUSY_PHASES = new Set(['identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling']);
const ACTIVE_PHASES = new Set(['identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling', 'checked', 'reweighed']);

export class Station {
  readonly events = new Signal<PostEvent>();
  readonly posts = new Map<string, PostRuntime>();
  readonly clock: Clock;
  readonly logs: LogFactory;
  registry!: Registry;
  store!: RecordStore;
  devices!: StationDevices;
  uploader?: Uploader;
  mqtt?: StationMqtt;
  publicKeyPem?: string;
  private db!: Database.Database;
  private preacts!: PreactStore;
  /** Locks only a supervisor's recorded reset lifts, kept across restarts (latches.ts). */
  latches!: LatchStore;
  private locks = new Set<LockKind>();
  private lockDetail = new Map<LockKind, string>();
  private lockTimer?: NodeJS.Timeout;
  private checkQueue: string[] = [];
  /** Open exceptions (unchecked cylinders, unauthorised fills) until a supervisor closes them out. */
  exceptions!: ExceptionStore;
  /** Who is badged in as filler at which post (one filler, one post; idle timeout). */
  sessions!: BadgeSessions;
  private lastSample = new Map<string, WeightSample>();
  private stopped = false;
  private valveSet?: StationValves;
  private startStep = '';

  constructor(readonly config: GatewayConfig, opts: Omit<StationOptions, 'config'> = {}) {
    this.clock = opts.clock ?? systemClock;
    this.logs = opts.logs ?? createLogFactory({ level: config.log.level, levels: config.log.levels });
  }

  /**
   * Every valve coil is written OFF before anything that can fail, and again
   * if the start fails (valves-first.ts; domain.md section 4): a restart after
   * a crash, or a crash loop on a corrupt database, never leaves a valve open.
   * A failed start rejects with the step that failed and whether the valves
   * were confirmed closed, after stopping what it had started.
   */
  async start(): Promise<void> {
    const log = this.logs('station');
    this.startStep = 'building the valves';
    try {
      this.valveSet = buildValves(this.config, this.clock, this.logs);
      this.startStep = 'writing every valve OFF';
      await closeValvesFirst(this.valveSet, log);
      await this.startAfterValves(log);
    } catch (err) {
      throw await this.failedStart(err, log);
    }
    log.info({ station: this.config.station.code, posts: this.config.posts.length }, 'station started');
  }

  /** The rest of the start, valves already closed; `startStep` names what is being done for a failure message. */
  private async startAfterValves(log: Logger): Promise<void> {
    const cfg = this.config;
    this.startStep = `creating the data dir ${cfg.dataDir}`;
    mkdirSync(cfg.dataDir, { recursive: true });
    this.startStep = `opening ${join(cfg.dataDir, 'station.db')}`;
    this.db = new Database(join(cfg.dataDir, 'station.db'));
    this.registry = openRegistry(this.db, { clock: this.clock });
    this.preacts = new PreactStore(this.db);
    this.exceptions = new ExceptionStore(this.db, this.clock);
    this.sessions = new BadgeSessions(this.clock, cfg.eligibility);
    this.sessions.changes.on((c) => {
      this.logs('sessions').info({ post: c.post, badge: c.operator.badge, kind: c.kind, reason: c.reason }, c.kind === 'in' ? 'filler badged in' : 'filler badge session ended');
      // The pre-fill confirmation lapses with the session: the post asks for the badge again.
      if (c.kind === 'out' && c.reason === 'timeout') this.posts.get(c.post)?.input({ kind: 'badgeLapsed' });
    });
    this.startStep = `loading the station signing key ${join(cfg.dataDir, PRIVATE_KEY_FILE)}`;
    if (!existsSync(join(cfg.dataDir, PRIVATE_KEY_FILE))) {
      const k = keysInit(cfg.dataDir);
      this.publicKeyPem = k.publicKeyPem;
      log.warn({ publicKeyFile: k.publicKeyPath }, 'created the station signing key: register its public key with the regulator');
    }
    const privateKey = loadPrivateKey(cfg.dataDir);
    this.startStep = `opening ${join(cfg.dataDir, 'records.db')}`;
    this.store = new RecordStore({ db: join(cfg.dataDir, 'records.db'), clock: this.clock, station: cfg.station.code, privateKey, config: cfg.records });
    // Fills a killed process left open become 'interrupted' records before any post runs.
    this.startStep = 'recording fills interrupted by the previous run';
    for (const r of this.store.recoverInterrupted()) {
      log.warn({ seq: r.seq, post: r.post, code: r.cylinderCode }, 'recorded a fill interrupted by the previous run');
    }
    this.startStep = 'starting the scales, readers and inputs';
    this.devices = buildDevices(cfg, this.clock, this.logs, this.valveSet);
    await this.devices.start();
    this.startStep = 'starting MQTT';
    this.mqtt = await startStationMqtt(cfg, { db: this.db, clock: this.clock, logs: this.logs, registry: { quarantine: (code, reason, source) => this.registry.quarantine(code, reason, source) } });
    this.restoreLatches();
    this.mqtt?.leak.lock.on(({ on }) => this.setLock('leak', on, 'leak interlock'));
    if (this.mqtt?.leak.locked) this.locks.add('leak');
    this.startStep = 'starting the posts';
    this.updateRecordLocks();
    for (const p of cfg.posts) this.startPost(p.id);
    this.devices.checkScale?.samples.on((s) => this.onCheckSample(s));
    this.devices.checkReader?.reads.on((r) => this.onCheckRead(r));
    this.lockTimer = setInterval(() => {
      this.updateRecordLocks();
      this.sessions.expire();
    }, 1000);
    this.lockTimer.unref();
    if (cfg.upload) {
      this.startStep = 'starting the uploader';
      this.uploader = new Uploader({ store: this.store, clock: this.clock, config: cfg.upload });
      this.uploader.start();
    }
  }

  /** Closes every valve again (bounded), logs why, stops what started; the error to reject start() with. */
  private async failedStart(err: unknown, log: Logger): Promise<FillgateError> {
    const step = this.startStep;
    const why = `start failed while ${step}: ${errorMessage(err)}`;
    log.fatal({ step, err: err instanceof Error ? err.stack : String(err) }, `${why}: closing every valve`);
    const notClosed = this.valveSet ? await closeValvesAgain(this.valveSet, 'start failed', log) : undefined;
    await this.stop().catch((e) => log.error({ err: errorMessage(e) }, 'stopping after a failed start'));
    const valves = !notClosed
      ? 'no valve could be built, none was written OFF'
      : notClosed.length
        ? `NOT confirmed closed: ${notClosed.join(', ')}`
        : 'every valve was written OFF';
    return new FillgateError(isFillgateError(err) ? err.code : 'INTERNAL', `${why} (${valves})`, { step, valvesNotClosed: notClosed }, { cause: err });
  }

  /** Every post's valve, from the very start of start() on (the crash handler closes them). */
  get valves(): ValveDriver[] {
    return [...(this.valveSet?.valves.values() ?? [])];
  }

  private startPost(id: string): void {
    const cfg = this.config;
    const p = cfg.posts.find((x) => x.id === id)!;
    const devices = this.devices.posts.get(id)!;
    const fill = { ...cfg.fill, ...p.fill };
    const pollHz = p.scale.kind === 'modbus' ? p.scale.pollHz : 10;
    const ccfg = controllerConfig(
      { station: cfg.station.code, unit: cfg.station.unit, post: id, medium: p.medium, scaleDevice: `${id}.scale` },
      { ...fill, pollHz, checkScale: !!cfg.checkScale, ...(cfg.records.utcOffsetMinutes !== undefined ? { utcOffsetMinutes: cfg.records.utcOffsetMinutes } : {}) },
    );
    const log = this.logs(`post.${id}`);
    const env: PostEnv = {
      clock: this.clock,
      log,
      verify: (post, code) =>
        verifyCylinder(
          {
            registry: this.registry,
            clock: this.clock,
            ownUnit: cfg.station.unit,
            settings: cfg.eligibility,
            postMedium: p.medium,
            locks: () => ({ leak: this.locks.has('leak'), upload: this.locks.has('upload'), store: this.locks.has('store') }),
            activeAtOtherPosts: () => this.activeCodes(post),
            scale: () => this.freshSample(post),
            angleValveCheck: this.mqtt ? (valve, scanned) => {
              const r = this.mqtt!.valves.check(valve, scanned);
              return r.ok ? undefined : { code: r.code, detail: r.detail };
            } : undefined,
          },
          code,
        ),
      lookupOperator: (badge) => {
        const op = this.registry.getOperator(badge);
        const facts = operatorFacts(op, this.clock.wall());
        const busyAt = op ? this.fillerBusyAt(id, op) : undefined;
        return facts && busyAt ? { ...facts, busyAt } : facts;
      },
      fillerAccepted: (post, badge) => {
        const op = this.registry.getOperator(badge);
        if (op) this.sessions.badgeIn(post, op, localDate(this.clock.wall()));
      },
      activity: (post) => this.sessions.touch(post),
      commit: (attempt) => {
        this.store.append(attempt);
        if (attempt.mustDecant && attempt.cylinderCode) this.holdForDecant(attempt, log);
        if (attempt.cylinderCode && attempt.netFilledKg !== undefined && attempt.netFilledKg > 0) {
          try {
            this.registry.recordFill(attempt.cylinderCode, attempt.endedAt ?? this.clock.wall());
          } catch (err) {
            log.warn({ err: errorMessage(err) }, 'fill count not updated');
          }
        }
      },
      markInProgress: (post, attempt) => this.store.markInProgress(post, attempt),
      clearInProgress: (post) => this.store.clearInProgress(post),
      savePreact: (post, model, entry: PreactEntry) => this.preacts.save(post, model, entry),
      supervisorReset: (badge) => {
        const leak = this.mqtt?.leak;
        // One badge, one reset: the leak lock first, then a store lock; a post fault is the post's own.
        if (!leak?.locked) return this.latches.has('store') ? (this.resetStoreLatch(badge), true) : false;
        const r = resetLeakLatch(this.latches, leak, badge, log);
        log.warn({ badge, ok: r.ok, reasons: r.reasons }, r.ok ? 'leak lock reset by supervisor' : 'leak lock reset refused');
        return true;
      },
      storeFailed: (err) => {
        this.lockDetail.set('store', errorMessage(err));
        try {
          this.latches.set('store', 'STORE_FAILED', errorMessage(err));
        } catch (e) {
          log.error({ err: errorMessage(e) }, 'store lock NOT persisted: a restart would lift it');
        }
        this.setLock('store', true, errorMessage(err));
      },
    };
    const rt = new PostRuntime(ccfg, devices, env, this.preacts.load(id) as PreactTable, [...this.locks], savedFault(this.latches, id));
    trackPostFault(this.latches, rt, log);
    rt.events.on((e) => this.onPostEvent(e));
    devices.scale.samples.on((s) => this.lastSample.set(id, s));
    this.posts.set(id, rt);
    rt.start();
  }

  /**
   * One filler, one post (eligibility.allowFillerAtSeveralPosts false): the other post where this
   * person (by certificate) is badged in with an attempt under way, if any.
   */
  private fillerBusyAt(post: string, op: Operator): string | undefined {
    if (this.config.eligibility.allowFillerAtSeveralPosts || !op.roles.includes('filler')) return undefined;
    for (const s of this.sessions.active()) {
      if (s.post === post || !samePerson(s.operator, op)) continue;
      const other = this.posts.get(s.post)?.snapshot.phase.kind;
      // Until the fill there has ended; the post-fill check is the checker's, the filler may move on.
      if (other && FILLER_BUSY_PHASES.has(other)) return s.post;
    }
    return undefined;
  }

  /** 超量气瓶严禁出站: the overfilled cylinder is held in the registry until a supervisor records its decant. */
  private holdForDecant(attempt: import('../records/types.ts').FillAttempt, log: Logger): void {
    const code = attempt.cylinderCode!;
    try {
      const over = attempt.reweighedNetKg ?? (attempt.netFilledKg !== undefined && attempt.residualKg !== undefined ? attempt.netFilledKg + attempt.residualKg : undefined);
      const overKg = over !== undefined && attempt.allowedFillKg !== undefined ? Math.round((over - attempt.allowedFillKg) * 1000) / 1000 : undefined;
      const hold = this.registry.holdForDecant(code, { attemptId: attempt.attemptId, ...(overKg !== undefined ? { overKg } : {}), source: `post:${attempt.post}` });
      if (!hold) return;
      log.warn({ code, attemptId: attempt.attemptId, overKg }, 'overfilled cylinder held for a decant');
      this.raiseEvent({ post: attempt.post, code: 'DECANT_HOLD', attemptId: attempt.attemptId, cylinderCode: code, detail: `held until a supervisor records the decant${overKg !== undefined ? ` (${overKg} kg over)` : ''}` });
    } catch (err) {
      log.error({ err: errorMessage(err), code }, 'overfilled cylinder NOT held in the registry');
    }
  }

  /** A supervisor records the decant of a held cylinder (CLI or dashboard); the hold ends. */
  recordDecant(code: string, d: { removedKg: number; by: string; at?: string; note?: string }, source: string): Decant {
    const decant = this.registry.recordDecant(code, { ...d, source });
    this.logs('station').warn({ code, removedKg: d.removedKg, by: d.by }, 'decant recorded: cylinder released');
    this.raiseEvent({ post: '', code: 'DECANT_RECORDED', attemptId: decant.attemptId ?? `decant-${decant.id}`, cylinderCode: code, by: d.by, detail: `${d.removedKg} kg removed`, data: { ...decant } });
    return decant;
  }

  /** A supervisor closes out an open exception with a note. */
  closeException(id: number, by: string, note: string): StationException {
    const e = this.exceptions.close(id, by, note);
    this.logs('station').warn({ id, post: e.post, code: e.code, by, note }, 'exception closed out');
    this.raiseEvent({ post: e.post, code: 'EXCEPTION_CLOSED', attemptId: e.attemptId, ...(e.cylinderCode ? { cylinderCode: e.cylinderCode } : {}), by, detail: `${e.code} closed: ${note}`, data: { exception: e.id, closes: e.code } });
    return e;
  }

  private raiseEvent(e: { post: string; code: StationEventCode; attemptId: string; cylinderCode?: string; detail?: string; by?: string; data?: Record<string, unknown> }): void {
    this.onPostEvent({ kind: 'event', ...e, at: new Date(this.clock.wall()).toISOString() });
  }

  /** Alarm at the station: log, the local alarm topic, upstream (alarms first). */
  private publishAlarm(kind: AlarmKind, id: string, post: string, detail?: string, active = true): void {
    if (!this.mqtt) return;
    const a = { id, kind, active, ...(post ? { location: post } : {}), ...(detail ? { detail } : {}), at: new Date(this.clock.wall()).toISOString() };
    void this.mqtt.broker.publish(this.mqtt.broker.topics.alarm, a, { qos: 1 }).catch(() => undefined);
    this.mqtt.relay?.send({ topic: this.mqtt.broker.topics.alarm, payload: JSON.stringify(a), class: 'alarm' });
  }

  private onStationEvent(e: Extract<PostEvent, { kind: 'event' }>): void {
    const log = this.logs('station');
    if (e.code === 'LEFT_UNCHECKED' || e.code === 'UNAUTHORISED_FILL') {
      try {
        const x = this.exceptions.raise({ post: e.post, code: e.code, attemptId: e.attemptId, ...(e.cylinderCode ? { cylinderCode: e.cylinderCode } : {}), ...(e.detail ? { detail: e.detail } : {}) });
        log.error({ post: e.post, code: e.code, attemptId: e.attemptId, cylinder: e.cylinderCode, detail: e.detail, exception: x.id }, e.code === 'LEFT_UNCHECKED' ? 'ALARM: cylinder left without its post-fill check' : 'ALARM: weight rose outside any fill');
      } catch (err) {
        log.error({ err: errorMessage(err), post: e.post, code: e.code }, 'exception NOT stored');
      }
      this.publishAlarm(e.code === 'LEFT_UNCHECKED' ? 'unchecked_cylinder' : 'unauthorised_fill', `${e.code}-${e.attemptId}`, e.post, e.detail);
    } else if (e.code === 'DECANT_HOLD') {
      this.publishAlarm('decant_hold', `DECANT_HOLD-${e.attemptId}`, e.post, `${e.cylinderCode}: ${e.detail ?? ''}`);
    } else if (e.code === 'DECANT_RECORDED') {
      this.publishAlarm('decant_hold', `DECANT_HOLD-${e.attemptId}`, e.post, `${e.cylinderCode}: ${e.detail ?? ''}`, false);
    } else if (e.code === 'EXCEPTION_CLOSED') {
      const closes = e.data?.closes;
      if (closes === 'LEFT_UNCHECKED' || closes === 'UNAUTHORISED_FILL') this.publishAlarm(closes === 'LEFT_UNCHECKED' ? 'unchecked_cylinder' : 'unauthorised_fill', `${closes}-${e.attemptId}`, e.post, e.detail, false);
    }
  }

  private onPostEvent(e: PostEvent): void {
    if (e.kind === 'event') this.onStationEvent(e);
    if (e.kind === 'phase') {
      if (e.phase === 'checked' && this.config.checkScale && !this.checkQueue.includes(e.post)) this.checkQueue.push(e.post);
      if (!['checked', 'reweighed'].includes(e.phase)) this.checkQueue = this.checkQueue.filter((x) => x !== e.post);
      this.publishPostStatus(e.post);
    }
    if (e.kind === 'record' && this.mqtt) {
      const topic = this.mqtt.broker.topics.fillOutcome(e.post);
      const payload = JSON.stringify(e.attempt);
      void this.mqtt.broker.publish(topic, payload, { qos: 1 }).catch(() => undefined);
      this.mqtt.relay?.send({ topic, payload, class: 'record' });
    }
    this.events.emit(e);
  }

  /** Post status on the local broker and upstream (capped telemetry: the record is what must not be lost). */
  private publishPostStatus(post: string): void {
    if (!this.mqtt) return;
    const rt = this.posts.get(post);
    if (!rt) return;
    const ph = rt.snapshot.phase as { kind: string; attempt?: { code: string }; run?: { code: string } };
    const code = ph.attempt?.code ?? ph.run?.code;
    const status = { post, state: ph.kind, ...(code ? { cylinderCode: code } : {}), locked: this.locks.size > 0, at: new Date(this.clock.wall()).toISOString() };
    const topic = this.mqtt.broker.topics.postStatus(post);
    const payload = JSON.stringify(status);
    void this.mqtt.broker.publish(topic, payload, { qos: 1 }).catch(() => undefined);
    this.mqtt.relay?.send({ topic, payload, class: 'telemetry' });
  }

  /**
   * The check-weigh scale's reading belongs to the cylinder whose code was read at the check scale
   * (issue 10 point 3); without a check reader, to the post that has waited longest for its re-weigh.
   */
  private onCheckSample(s: WeightSample): void {
    if (this.devices.checkReader) {
      const code = this.checkCode;
      const owner = code ? this.postAwaitingCheck(code) : undefined;
      if (owner) owner.input({ kind: 'checkweigh', sample: s, code: code! });
      // Taken off: the next cylinder must be read again.
      if (!s.overload && s.grossKg < this.config.eligibility.emptyScaleBelowKg) this.checkCode = undefined;
      return;
    }
    const head = this.checkQueue[0];
    if (head) this.posts.get(head)?.input({ kind: 'checkweigh', sample: s });
  }

  /** The code read at the check scale: of the cylinder now on it. */
  private checkCode: string | undefined;

  /** A read at the check scale: a cylinder code names what is on it; a badge signs that cylinder's post-fill check. */
  private onCheckRead(read: import('../../devices/types.ts').CodeRead): void {
    const log = this.logs('check');
    if (read.kind === 'cylinder') {
      this.checkCode = read.code;
      if (!this.postAwaitingCheck(read.code)) log.warn({ code: read.code }, 'cylinder at the check scale is not awaiting a re-weigh at any post');
      return;
    }
    const owner = this.checkCode ? this.postAwaitingCheck(this.checkCode) : undefined;
    if (owner) owner.onRead(read);
    else log.warn({ badge: read.code }, 'badge at the check scale with no identified cylinder awaiting its check');
  }

  /** The post whose filled cylinder with this code awaits its re-weigh and check. */
  private postAwaitingCheck(code: string): PostRuntime | undefined {
    for (const rt of this.posts.values()) {
      const ph = rt.snapshot.phase as { kind: string; run?: { code: string } };
      if ((ph.kind === 'checked' || ph.kind === 'reweighed') && ph.run?.code === code) return rt;
    }
    return undefined;
  }

  private freshSample(post: string): { grossKg: number; stable: boolean; overload: boolean } | undefined {
    const s = this.lastSample.get(post);
    if (!s || this.clock.now() - s.at > 1000) return undefined;
    return { grossKg: s.grossKg, stable: s.stable, overload: s.overload };
  }

  private activeCodes(except: string): string[] {
    const out: string[] = [];
    for (const [id, rt] of this.posts) {
      if (id === except) continue;
      const ph = rt.snapshot.phase as { kind: string; attempt?: { code: string }; run?: { code: string } };
      const code = ph.attempt?.code ?? ph.run?.code;
      if (ACTIVE_PHASES.has(ph.kind) && code) out.push(code);
    }
    return out;
  }

  private updateRecordLocks(): void {
    let locks: { code: string; detail: string }[] = [];
    try {
      locks = recordFillLocks(this.store, this.clock, this.config.upload?.timeliness);
    } catch (err) {
      locks = [{ code: 'STATION_LOCKED_STORE', detail: errorMessage(err) }];
    }
    const store = locks.find((l) => l.code === 'STATION_LOCKED_STORE');
    const upload = locks.find((l) => l.code === 'STATION_LOCKED_UPLOAD');
    // A failed commit's store lock is a latch: only a supervisor's reset lifts it (resetStoreLatch).
    // The computed ones come and go with their condition; their changes go into the latch history.
    const note = (lock: LockKind, on: boolean, detail?: string) => {
      if (!this.setLock(lock, on, detail)) return;
      try {
        this.latches.note(lock, on ? 'set' : 'lift', 'condition', `STATION_LOCKED_${lock.toUpperCase()}`, detail);
      } catch (err) {
        // History only; this runs on a timer, where a throw would end the process.
        this.logs('station').error({ err: errorMessage(err), lock }, 'lock change not written to the latch history');
      }
    };
    if (!this.latches.has('store')) note('store', !!store, store?.detail);
    note('upload', !!upload, upload?.detail);
  }

  /**
   * Before any post starts: the latches the previous run left (leak, store; post faults are
   * restored by startPost). A restart must not lift them (issue 9 point 4; CJ/T 394).
   */
  private restoreLatches(): void {
    const log = this.logs('station');
    this.latches = new LatchStore(this.db, this.clock);
    const store = this.latches.get('store');
    if (store) {
      this.locks.add('store');
      this.lockDetail.set('store', store.detail ?? store.reason);
      log.warn({ since: store.since, detail: store.detail }, 'store lock restored from the previous run: a supervisor must reset it once the cause is fixed');
    }
    if (this.mqtt) attachLeakLatch(this.latches, this.mqtt.leak, this.clock, this.logs('leak'));
    else if (this.latches.has('leak')) {
      // No interlock, so no detector can say the gas is gone: the lock stays (fail safe) until the MQTT config is back.
      this.locks.add('leak');
      log.error('leak lock restored but no leak interlock is configured: restore the mqtt section so the detectors can confirm clear');
    }
    for (const l of this.latches.active()) log.warn({ latch: l.latch, since: l.since, reason: l.reason }, 'latch restored');
  }

  /** A supervisor's reset of a failed commit's store lock; refused while the store still cannot be written. */
  resetStoreLatch(by: string): { ok: boolean; reason?: string } {
    const log = this.logs('station');
    if (!this.latches.has('store')) return { ok: false, reason: 'not locked' };
    try {
      this.store.probeWrite();
    } catch (err) {
      this.latches.note('store', 'refused', by, 'RESET_REFUSED', errorMessage(err));
      log.warn({ by, err: errorMessage(err) }, 'store lock reset refused: the store still cannot be written');
      return { ok: false, reason: errorMessage(err) };
    }
    this.latches.lift('store', by);
    this.lockDetail.delete('store');
    log.warn({ by }, 'store lock reset by supervisor');
    this.setLock('store', false, `reset by ${by}`);
    // Still near full: the computed lock comes straight back (and is noted as such).
    this.updateRecordLocks();
    if (!this.locks.has('store')) return { ok: true };
    return { ok: true, reason: 'the store is still near full: the computed lock stays' };
  }

  private setLock(lock: LockKind, on: boolean, detail?: string): boolean {
    if (on === this.locks.has(lock)) return false;
    if (on) this.locks.add(lock);
    else this.locks.delete(lock);
    this.logs('station').warn({ lock, on, detail }, on ? `station locked (${lock})` : `station lock lifted (${lock})`);
    void this.mqtt?.broker
      .setGatewayState({ state: 'online', station: this.config.station.code, locked: this.locks.size > 0, lockReasons: [...this.locks], at: new Date(this.clock.wall()).toISOString() })
      .catch(() => undefined);
    for (const rt of this.posts.values()) {
      rt.input(lock === 'leak' ? { kind: 'leakAlarm', active: on } : { kind: 'stationLock', lock, active: on });
    }
    return true;
  }

  get lockState(): { lock: LockKind; detail?: string }[] {
    return [...this.locks].map((lock) => ({ lock, detail: this.lockDetail.get(lock) }));
  }

  /** A supervisor resets a faulted post (e.g. from the station screen). */
  resetPost(post: string, by = 'station'): void {
    this.posts.get(post)?.input({ kind: 'reset', by });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.lockTimer) clearInterval(this.lockTimer);
    for (const rt of this.posts.values()) rt.stop();
    // Valves are closed first by devices.stop() (or stopValves() when start failed before the other devices).
    if (this.devices) await this.devices.stop();
    else if (this.valveSet) await stopValves(this.valveSet);
    await this.uploader?.stop().catch(() => undefined);
    await this.mqtt?.stop();
    this.store?.close();
    this.db?.close();
  }
}
