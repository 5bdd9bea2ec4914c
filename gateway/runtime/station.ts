/**
 * The running gateway: opens the store and registry, starts the devices with
 * every valve forced closed, writes the records of fills a previous run left
 * unfinished, then runs one PostRuntime per post with the station-wide locks
 * (leak, uploads behind, store near full) fed to all of them.
 */
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import type { WeightSample } from '../../devices/types.ts';
import { controllerConfig, type PreactEntry, type PreactTable, type LockKind } from '../controller/index.ts';
import type { GatewayConfig } from '../config/config.ts';
import { createLogFactory, type LogFactory } from '../log.ts';
import { openRegistry, type Registry } from '../registry/registry.ts';
import { RecordStore } from '../records/store.ts';
import { keysInit, loadPrivateKey, PRIVATE_KEY_FILE } from '../records/keys.ts';
import { recordFillLocks } from '../sync/timeliness.ts';
import { Uploader } from '../sync/uploader.ts';
import { buildDevices, type StationDevices } from './devices.ts';
import { PostRuntime, type PostEnv, type PostEvent } from './post.ts';
import { operatorFacts, verifyCylinder } from './verify.ts';
import { startStationMqtt, type StationMqtt } from './mqtt.ts';
import { PreactStore } from './preacts.ts';
import { RegistryImports } from './registry-imports.ts';
import { LoopLag } from './loop-lag.ts';

export interface StationOptions {
  config: GatewayConfig;
  clock?: Clock;
  logs?: LogFactory;
}

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
  /** Registry imports from the dashboard: in a worker, refused while a post fills (registry-imports.ts). */
  readonly imports: RegistryImports;
  /** Event-loop lag over the last 10 s, for /status and /metrics (the posts' timing runs on this loop). */
  readonly loopLag = new LoopLag();
  private db!: Database.Database;
  private preacts!: PreactStore;
  private locks = new Set<LockKind>();
  private lockDetail = new Map<LockKind, string>();
  private lockTimer?: NodeJS.Timeout;
  private checkQueue: string[] = [];
  private lastSample = new Map<string, WeightSample>();
  private stopped = false;

  constructor(readonly config: GatewayConfig, opts: Omit<StationOptions, 'config'> = {}) {
    this.clock = opts.clock ?? systemClock;
    this.logs = opts.logs ?? createLogFactory({ level: config.log.level, levels: config.log.levels });
    this.imports = new RegistryImports({ dataDir: () => this.config.dataDir, posts: () => this.posts.values(), registry: () => this.registry, wall: () => this.clock.wall() });
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const log = this.logs('station');
    this.loopLag.start();
    mkdirSync(cfg.dataDir, { recursive: true });
    this.db = new Database(join(cfg.dataDir, 'station.db'));
    this.registry = openRegistry(this.db, { clock: this.clock });
    this.preacts = new PreactStore(this.db);
    if (!existsSync(join(cfg.dataDir, PRIVATE_KEY_FILE))) {
      const k = keysInit(cfg.dataDir);
      this.publicKeyPem = k.publicKeyPem;
      log.warn({ publicKeyFile: k.publicKeyPath }, 'created the station signing key: register its public key with the regulator');
    }
    this.store = new RecordStore({ db: join(cfg.dataDir, 'records.db'), clock: this.clock, station: cfg.station.code, privateKey: loadPrivateKey(cfg.dataDir), config: cfg.records });
    // Fills a killed process left open become 'interrupted' records before anything else runs.
    for (const r of this.store.recoverInterrupted()) {
      log.warn({ seq: r.seq, post: r.post, code: r.cylinderCode }, 'recorded a fill interrupted by the previous run');
    }
    this.devices = buildDevices(cfg, this.clock, this.logs);
    await this.devices.start();
    this.mqtt = await startStationMqtt(cfg, { db: this.db, clock: this.clock, logs: this.logs, registry: { quarantine: (code, reason, source) => this.registry.quarantine(code, reason, source) } });
    this.mqtt?.leak.lock.on(({ on }) => this.setLock('leak', on, 'leak interlock'));
    if (this.mqtt?.leak.locked) this.locks.add('leak');
    this.updateRecordLocks();
    for (const p of cfg.posts) this.startPost(p.id);
    this.devices.checkScale?.samples.on((s) => this.onCheckSample(s));
    this.lockTimer = setInterval(() => this.updateRecordLocks(), 1000);
    this.lockTimer.unref();
    if (cfg.upload) {
      this.uploader = new Uploader({ store: this.store, clock: this.clock, config: cfg.upload });
      this.uploader.start();
    }
    log.info({ station: cfg.station.code, posts: cfg.posts.length }, 'station started');
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
      lookupOperator: (badge) => operatorFacts(this.registry.getOperator(badge), this.clock.wall()),
      commit: (attempt) => {
        this.store.append(attempt);
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
        if (!leak?.locked) return false;
        const r = leak.reset(badge);
        log.warn({ badge, ok: r.ok, reasons: r.reasons }, r.ok ? 'leak lock reset by supervisor' : 'leak lock reset refused');
        return true;
      },
      storeFailed: (err) => {
        this.lockDetail.set('store', errorMessage(err));
        this.setLock('store', true, errorMessage(err));
      },
    };
    const rt = new PostRuntime(ccfg, devices, env, this.preacts.load(id) as PreactTable, [...this.locks]);
    rt.events.on((e) => this.onPostEvent(e));
    devices.scale.samples.on((s) => this.lastSample.set(id, s));
    this.posts.set(id, rt);
    rt.start();
  }

  private onPostEvent(e: PostEvent): void {
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

  /** The check-weigh scale serves the post that has waited longest for its re-weigh. */
  private onCheckSample(s: WeightSample): void {
    const head = this.checkQueue[0];
    if (head) this.posts.get(head)?.input({ kind: 'checkweigh', sample: s });
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
    // A failed commit keeps the store lock until restart: the cause must be looked at.
    if (!this.lockDetail.has('store')) this.setLock('store', !!store, store?.detail);
    this.setLock('upload', !!upload, upload?.detail);
  }

  private setLock(lock: LockKind, on: boolean, detail?: string): void {
    if (on === this.locks.has(lock)) return;
    if (on) this.locks.add(lock);
    else this.locks.delete(lock);
    this.logs('station').warn({ lock, on, detail }, on ? `station locked (${lock})` : `station lock lifted (${lock})`);
    void this.mqtt?.broker
      .setGatewayState({ state: 'online', station: this.config.station.code, locked: this.locks.size > 0, lockReasons: [...this.locks], at: new Date(this.clock.wall()).toISOString() })
      .catch(() => undefined);
    for (const rt of this.posts.values()) {
      rt.input(lock === 'leak' ? { kind: 'leakAlarm', active: on } : { kind: 'stationLock', lock, active: on });
    }
  }

  get lockState(): { lock: LockKind; detail?: string }[] {
    return [...this.locks].map((lock) => ({ lock, detail: this.lockDetail.get(lock) }));
  }

  /** A supervisor resets a faulted post (e.g. from the station screen). */
  resetPost(post: string): void {
    this.posts.get(post)?.input({ kind: 'reset' });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.lockTimer) clearInterval(this.lockTimer);
    this.loopLag.stop();
    for (const rt of this.posts.values()) rt.stop();
    // Valves are closed first by devices.stop().
    await this.devices?.stop();
    await this.uploader?.stop().catch(() => undefined);
    await this.mqtt?.stop();
    this.store?.close();
    this.db?.close();
  }
}
