/**
 * The running gateway: writes every valve coil OFF first, then opens the store
 * and registry, writes the records of fills a previous run left unfinished,
 * starts the other devices and runs one PostRuntime per post with the
 * station-wide locks (leak, uploads behind, store near full) fed to all of them.
 */
import { paceScale } from './scale-pace.ts';
import { mkdirSync, existsSync, readFileSync } from 'node:fs';
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
import { formatUtcOffset, resolveUtcOffset } from '../records/config.ts';
import { isoWithOffset } from '../records/record.ts';
import { keysInit, PRIVATE_KEY_FILE } from '../records/keys.ts';
import { HANDOVER_FILE, HandoverGate, signingKey } from '../records/key-rotation.ts';
import { dataDirBusy, lockExistingDataDir, tryLockDataDir, type DataDirLock } from '../records/data-lock.ts';
import { recordFillLocks, stationTimeliness } from '../sync/timeliness.ts';
import { Uploader } from '../sync/uploader.ts';
import { buildDevices, buildValves, valveProblem, type StationDevices, type StationValves } from './devices.ts';
import { closeValvesAgain, closeValvesFirst, stopValves } from './valves-first.ts';
import { PostRuntime, type PostEnv, type PostEvent } from './post.ts';
import { operatorFacts, verifyCylinder } from './verify.ts';
import { startStationMqtt, type StationMqtt } from './mqtt.ts';
import { startStationLeak, type StationLeak } from './leak.ts';
import { PreactStore } from './preacts.ts';
import { LatchStore } from './latches.ts';
import { attachLeakLatch, resetLeakLatch, savedFault, trackPostFault } from './latch-wiring.ts';
import { EventLog } from '../records/events.ts';
import type { EventInput, StationEventV1 } from '../records/event.ts';
import { EventUploader } from '../sync/event-uploader.ts';
import { attachStationEvents, recordStart, registryEvent } from './event-wiring.ts';
import { remoteTarget, startRemoteCommands, type RemoteCommandsRuntime } from './remote.ts';
import { overfillAlarm, quarantineOverfilled, recoverJournal, type OverfillFinding } from './recovery.ts';
import { RegistryImports } from './registry-imports.ts';
import { LoopLag } from './loop-lag.ts';
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
  /** The config file, whose hash is compared with the last start's (a config.changed event). */
  configFile?: string;
}

const FILLER_BUSY_PHASES = new Set(['identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling']);
const ACTIVE_PHASES = new Set(['identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling', 'checked', 'reweighed']);

/** Station events of the posts that go into the signed event log; decants and holds arrive there as registry changes. */
const EVENT_KIND_OF: Partial<Record<StationEventCode, string>> = {
  LEFT_UNCHECKED: 'fill.unchecked',
  UNAUTHORISED_FILL: 'fill.unauthorised',
  EXCEPTION_CLOSED: 'exception.closed',
};

/** A step of the caller's (fillgate start: bind the HTTP port) run right after the valves are OFF, before any post starts. */
export interface StartStep {
  step: string;
  run(): Promise<void>;
}

export class Station {
  readonly events = new Signal<PostEvent>();
  readonly posts = new Map<string, PostRuntime>();
  readonly clock: Clock;
  readonly logs: LogFactory;
  /** The station's one UTC offset (records.utcOffsetMinutes, else this PC's zone at start): controller, store, dashboard alike. */
  readonly utcOffsetMinutes: number;
  registry!: Registry;
  store!: RecordStore;
  devices!: StationDevices;
  uploader?: Uploader;
  /**
   * The signed station event log (issue 10 point 6). Other parts of the gateway record
   * through `recordEvent({kind, post?, subject?, by?, reason?, detail?, data?, id?})`.
   */
  eventLog!: EventLog;
  eventUploader?: EventUploader;
  remote?: RemoteCommandsRuntime;
  private offEvents?: () => void;
  private readonly configFile?: string;
  mqtt?: StationMqtt;
  private leakRun?: StationLeak;
  /** The leak interlock (MQTT and Modbus detectors and cut-off valves alike; leak.ts). */
  get leak() {
    return this.leakRun?.service;
  }
  publicKeyPem?: string;
  /** Registry imports from the dashboard: in a worker, refused while a post fills (registry-imports.ts). */
  readonly imports: RegistryImports;
  /** Event-loop lag over the last 10 s, for /status and /metrics (the posts' timing runs on this loop). */
  readonly loopLag = new LoopLag();
  private db!: Database.Database;
  private preacts!: PreactStore;
  /** Locks only a supervisor's recorded reset lifts, kept across restarts (latches.ts). */
  latches!: LatchStore;
  private locks = new Set<LockKind>();
  private lockDetail = new Map<LockKind, string>();
  private lockTimer?: NodeJS.Timeout;
  private dataLock?: DataDirLock;
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
    this.configFile = opts.configFile;
    this.utcOffsetMinutes = resolveUtcOffset(config.records, this.clock.wall());
    this.imports = new RegistryImports({ dataDir: () => this.config.dataDir, posts: () => this.posts.values(), registry: () => this.registry, wall: () => this.clock.wall() });
  }

  /**
   * Record a signed, chained station event (gateway/records/event.ts for the kinds). Never
   * throws: a failure is logged and returns undefined, so no safety path stops on it.
   */
  recordEvent(e: EventInput): StationEventV1 | undefined {
    if (!this.eventLog) {
      this.logs('station').error({ kind: e.kind }, 'station event before the event log was opened: not recorded');
      return undefined;
    }
    try {
      return this.eventLog.append(e);
    } catch (err) {
      this.logs('station').error({ err: errorMessage(err), kind: e.kind }, 'station event NOT recorded');
      return undefined;
    }
  }

  /** A remote lock (signed command): a latch, so a restart keeps it; only a remote unlock lifts it. */
  remoteLock(on: boolean, by: string, reason?: string): { changed: boolean } {
    if (on) this.latches.set('remote', 'STATION_LOCKED_REMOTE', reason, undefined, by);
    else this.latches.lift('remote', by, reason);
    if (on) this.lockDetail.set('remote', `${reason ?? 'remote lock'} (${by})`);
    else this.lockDetail.delete('remote');
    return { changed: this.setLock('remote', on, reason) };
  }

  /**
   * Every valve coil is written OFF before anything that can fail, and again
   * if the start fails (valves-first.ts; domain.md section 4): a restart after
   * a crash, or a crash loop on a corrupt database, never leaves a valve open.
   * A failed start rejects with the step that failed and whether the valves
   * were confirmed closed, after stopping what it had started. `afterValvesOff`:
   * the caller's steps that must succeed before any post starts.
   */
  async start(opts: { afterValvesOff?: StartStep[] } = {}): Promise<void> {
    const log = this.logs('station');
    this.loopLag.start();
    this.startStep = `locking the data dir ${this.config.dataDir}`;
    try {
      // Another gateway on this data dir drives these valves: refuse before touching them (data-lock.ts).
      // A data dir not made yet, or one that cannot be opened, is left to the step after the valves are OFF.
      this.dataLock = lockExistingDataDir(this.config.dataDir);
      this.startStep = 'building the valves';
      this.valveSet = buildValves(this.config, this.clock, this.logs);
      this.startStep = 'writing every valve OFF';
      await closeValvesFirst(this.valveSet, log);
      for (const s of opts.afterValvesOff ?? []) {
        this.startStep = s.step;
        await s.run();
      }
      await this.startAfterValves(log);
    } catch (err) {
      throw await this.failedStart(err, log);
    }
    log.info({ station: this.config.station.code, posts: this.config.posts.length, utcOffset: formatUtcOffset(this.utcOffsetMinutes) }, 'station started');
  }

  /** The rest of the start, valves already closed; `startStep` names what is being done for a failure message. */
  private async startAfterValves(log: Logger): Promise<void> {
    const cfg = this.config;
    this.startStep = `creating the data dir ${cfg.dataDir}`;
    mkdirSync(cfg.dataDir, { recursive: true });
    // One gateway per data dir: a second one would fork the record chain (data-lock.ts).
    this.startStep = `locking the data dir ${cfg.dataDir}`;
    this.dataLock ??= tryLockDataDir(cfg.dataDir);
    if (!this.dataLock) throw new FillgateError('BAD_CONFIG', dataDirBusy(cfg.dataDir, 'not starting'), { dataDir: cfg.dataDir });
    this.startStep = `opening ${join(cfg.dataDir, 'station.db')}`;
    this.db = new Database(join(cfg.dataDir, 'station.db'));
    // WAL (as records.db): a commit is one WAL append + fsync instead of a rollback journal's several,
    // on the posts' loop (issue 14 point 6), and the registry import worker's reads never wait for it.
    this.db.pragma('journal_mode = WAL');
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
    // A key rotation the receiver has not answered yet: sign with the new key; the uploaders send its handover first.
    const { key: privateKey, pending: rotating } = signingKey(cfg.dataDir);
    if (rotating) log.warn({ handover: join(cfg.dataDir, HANDOVER_FILE) }, 'a key rotation is queued: signing with the new key; the uploads wait until the receiver accepts its handover');
    log.info(
      { utcOffset: formatUtcOffset(this.utcOffsetMinutes), source: cfg.records.utcOffsetMinutes === undefined ? "this PC's zone" : 'records.utcOffsetMinutes' },
      `record times carry UTC offset ${formatUtcOffset(this.utcOffsetMinutes)}`,
    );
    const records = { ...cfg.records, utcOffsetMinutes: this.utcOffsetMinutes };
    this.startStep = `opening ${join(cfg.dataDir, 'records.db')}`;
    this.store = new RecordStore({ db: join(cfg.dataDir, 'records.db'), clock: this.clock, station: cfg.station.code, privateKey, config: records });
    this.eventLog = new EventLog({ db: this.store.db, clock: this.clock, station: cfg.station.code, privateKey, utcOffsetMinutes: this.utcOffsetMinutes, clockJumpThresholdMs: cfg.records.clockJumpThresholdMs, bootId: this.store.boot });
    recordStart(this.eventLog, (e) => this.recordEvent(e), { file: this.configFile, config: cfg });
    this.startStep = 'starting the scales, readers and inputs';
    this.devices = buildDevices(cfg, this.clock, this.logs, this.valveSet);
    await this.devices.start();
    // Attempts a killed process left open become 'interrupted' records before any post or MQTT starts;
    // one whose valve may have opened is re-weighed first (bounded wait), an overfilled one quarantined.
    this.startStep = 'recording fills interrupted by the previous run';
    const recovered = await recoverJournal({ store: this.store, devices: this.devices, config: cfg, clock: this.clock, log });
    {
      // The station's event wiring is not attached yet: the holds are signed events all the same.
      const off = this.registry.changed.on((e) => {
        const ev = registryEvent(e);
        if (ev) this.recordEvent(ev);
      });
      try {
        quarantineOverfilled(this.registry, recovered.overfilled, log);
      } finally {
        off();
      }
    }
    this.startStep = 'starting the leak interlock and MQTT';
    this.leakRun = startStationLeak(cfg, { clock: this.clock, logs: this.logs, drivers: this.devices.leak });
    this.mqtt = await startStationMqtt(cfg, { db: this.db, clock: this.clock, logs: this.logs, leak: this.leak, registry: { quarantine: (code, reason, source) => this.registry.quarantine(code, reason, source) } });
    this.raiseOverfillAlarms(recovered.overfilled);
    this.restoreLatches();
    this.leak?.lock.on(({ on }) => this.setLock('leak', on, 'leak interlock'));
    if (this.leak?.locked) this.locks.add('leak');
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
      const up = cfg.upload;
      const gate = new HandoverGate({ dir: cfg.dataDir, station: cfg.station.code, recordsUrl: up.url, allowInsecure: up.allowInsecure, ca: up.caFile ? readFileSync(up.caFile) : undefined, timeoutMs: up.timeoutMs, log: this.logs('sync') });
      const before = () => gate.settle();
      this.uploader = new Uploader({ store: this.store, clock: this.clock, config: cfg.upload, log: this.logs('sync'), before });
      this.uploader.start();
      this.eventUploader = new EventUploader({ log: this.eventLog, clock: this.clock, config: cfg.upload, retentionDays: cfg.records.retentionDays, logger: this.logs('sync.events'), before });
      this.eventUploader.start();
    }
    if (cfg.remote) {
      this.startStep = 'starting remote commands';
      this.remote = startRemoteCommands(remoteTarget(this), cfg.remote, this.db, this.logs('remote'));
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
      ? isFillgateError(err) && err.context?.busy
        ? 'no valve was touched: they belong to the gateway running on this data dir'
        : 'no valve could be built, none was written OFF'
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
      { ...fill, pollHz, checkScale: !!cfg.checkScale, utcOffsetMinutes: this.utcOffsetMinutes },
    );
    const log = this.logs(`post.${id}`);
    // The valve's timing is learned per post and valve: another relay coil (or module) starts over.
    const valveKey = `${p.valve.bus ?? ''}/${p.valve.unit ?? ''}/${p.valve.coil}`;
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
            locks: () => ({ leak: this.locks.has('leak'), upload: this.locks.has('upload'), store: this.locks.has('store'), remote: this.locks.has('remote') }),
            activeAtOtherPosts: () => this.activeCodes(post),
            scale: () => this.freshSample(post),
            deviceProblem: () => {
              const detail = valveProblem(devices.valve);
              return detail ? { code: 'DEVICE_OFFLINE', detail } : undefined;
            },
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
            this.registry.recordFill(attempt.cylinderCode, attempt.endedAt ?? isoWithOffset(this.clock.wall(), this.utcOffsetMinutes));
          } catch (err) {
            log.warn({ err: errorMessage(err) }, 'fill count not updated');
          }
        }
      },
      markInProgress: (post, attempt, opts) => void this.store.markInProgress(post, attempt, opts),
      clearInProgress: (post) => this.store.clearInProgress(post),
      savePreact: (post, model, entry: PreactEntry) => this.preacts.save(post, model, entry),
      saveTiming: (post, timing) => this.preacts.saveTiming(post, valveKey, timing),
      supervisorReset: (badge) => {
        const leak = this.leak;
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
    const rt = new PostRuntime(ccfg, devices, env, this.preacts.load(id) as PreactTable, [...this.locks], savedFault(this.latches, id), this.preacts.loadTiming(id, valveKey));
    trackPostFault(this.latches, rt, log);
    rt.events.on((e) => this.onPostEvent(e));
    devices.scale.samples.on((s) => this.lastSample.set(id, s));
    paceScale(devices.scale, devices.reader, rt, this.clock);
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
    // In the signed event log too (one turn later, off the post's step), with or without MQTT.
    const ev: EventInput = { kind: active ? 'alarm.raised' : 'alarm.cleared', post, subject: id, data: { alarmId: id, alarmKind: kind }, ...(detail ? { detail } : {}) };
    setImmediate(() => this.recordEvent(ev));
    if (!this.mqtt) return;
    const a = { id, kind, active, ...(post ? { location: post } : {}), ...(detail ? { detail } : {}), at: new Date(this.clock.wall()).toISOString() };
    void this.mqtt.broker.publish(this.mqtt.broker.topics.alarm, a, { qos: 1 }).catch(() => undefined);
    this.mqtt.relay?.send({ topic: this.mqtt.broker.topics.alarm, payload: JSON.stringify(a), class: 'alarm' });
  }

  private onStationEvent(e: Extract<PostEvent, { kind: 'event' }>): void {
    const log = this.logs('station');
    // Into the signed event log (issue 10 point 6), one event-loop turn later: these come from a post's
    // step, which may also be closing its valve, and a commit must never delay the close.
    const kind = EVENT_KIND_OF[e.code];
    if (kind) {
      const closes = e.code === 'EXCEPTION_CLOSED' ? `-${String(e.data?.exception ?? '')}` : '';
      const input: EventInput = {
        kind,
        post: e.post,
        subject: e.cylinderCode ?? e.attemptId,
        reason: e.code === 'EXCEPTION_CLOSED' ? String(e.data?.closes ?? e.code) : e.code,
        id: `${kind}-${e.post}-${e.attemptId}${closes}`,
        data: { attemptId: e.attemptId, ...(e.data ?? {}) },
        ...(e.by ? { by: e.by } : {}),
        ...(e.detail ? { detail: e.detail } : {}),
      };
      setImmediate(() => this.recordEvent(input));
    }
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

  /** Alarm path as for leak alarms (gateway/mqtt/wiring.ts): local alarm topic and upstream, alarms first. */
  private raiseOverfillAlarms(found: readonly OverfillFinding[]): void {
    for (const f of found) {
      this.events.emit({ kind: 'display', post: f.post, reason: 'OVERFILLED_MUST_DECANT', detail: f.cylinderCode });
      const alarm = overfillAlarm(f, this.clock.wall(), this.utcOffsetMinutes);
      // In the signed event log whether or not MQTT is configured (as publishAlarm does for the others).
      this.recordEvent({ kind: 'alarm.raised', post: f.post, subject: alarm.id, reason: 'OVERFILL', detail: alarm.detail, data: { alarmId: alarm.id, alarmKind: alarm.kind, device: alarm.device, location: f.post } });
      if (!this.mqtt) continue;
      this.mqtt.relay?.send({ topic: this.mqtt.broker.topics.alarm, payload: JSON.stringify(alarm), class: 'alarm' });
      void this.mqtt.broker.publish(this.mqtt.broker.topics.alarm, alarm, { qos: 1 }).catch(() => undefined);
    }
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
      // Taken off: the next cylinder must be read again. Only once the scale has shown it: the tag is read
      // as the cylinder is set down, and a reading from just before (still empty) must not forget it.
      const empty = !s.overload && s.grossKg < this.config.eligibility.emptyScaleBelowKg;
      if (!empty) this.checkLoaded = true;
      else if (this.checkLoaded) {
        this.checkCode = undefined;
        this.checkLoaded = false;
      }
      return;
    }
    const head = this.checkQueue[0];
    if (head) this.posts.get(head)?.input({ kind: 'checkweigh', sample: s });
  }

  /** The code read at the check scale: of the cylinder now on it. */
  private checkCode: string | undefined;
  /** The check scale has shown a load since the last code was read there. */
  private checkLoaded = false;

  /** A read at the check scale: a cylinder code names what is on it; a badge signs that cylinder's post-fill check. */
  private onCheckRead(read: import('../../devices/types.ts').CodeRead): void {
    const log = this.logs('check');
    if (read.kind === 'cylinder') {
      this.checkCode = read.code;
      this.checkLoaded = false;
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
      locks = recordFillLocks(this.store, this.clock, stationTimeliness(this.config.upload));
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
    // Before anything sets or lifts a latch: every history line becomes a signed event.
    this.offEvents = attachStationEvents({ log: this.eventLog, record: (e) => this.recordEvent(e), latches: this.latches, registry: this.registry, leak: this.leak, valves: this.mqtt?.valves, logger: log });
    const remote = this.latches.get('remote');
    if (remote) {
      this.locks.add('remote');
      this.lockDetail.set('remote', `${remote.detail ?? remote.reason} (since ${remote.since})`);
      log.warn({ since: remote.since, detail: remote.detail }, 'remote lock restored from the previous run: only a signed remote unlock lifts it');
    }
    const store = this.latches.get('store');
    if (store) {
      this.locks.add('store');
      this.lockDetail.set('store', store.detail ?? store.reason);
      log.warn({ since: store.since, detail: store.detail }, 'store lock restored from the previous run: a supervisor must reset it once the cause is fixed');
    }
    if (this.leak) attachLeakLatch(this.latches, this.leak, this.clock, this.logs('leak'));
    else if (this.latches.has('leak')) {
      // No interlock, so no detector can say the gas is gone: the lock stays (fail safe) until the MQTT config is back.
      this.locks.add('leak');
      log.error('leak lock restored but no leak interlock is configured: configure the detectors again (mqtt or leakDetectors) so they can confirm clear');
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
    this.loopLag.stop();
    for (const rt of this.posts.values()) rt.stop();
    // Valves are closed first by devices.stop() (or stopValves() when start failed before the other devices).
    if (this.devices) await this.devices.stop();
    else if (this.valveSet) await stopValves(this.valveSet);
    await this.uploader?.stop().catch(() => undefined);
    await this.eventUploader?.stop().catch(() => undefined);
    this.remote?.stop();
    this.offEvents?.();
    await this.mqtt?.stop();
    this.leakRun?.stop();
    this.store?.close();
    this.db?.close();
    this.dataLock?.release();
  }
}
