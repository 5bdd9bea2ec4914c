/**
 * The embedded broker run in a worker thread (broker-worker.ts), seen from the posts' thread as
 * a `StationBrokerPort` (issue 14 point 5). The posts' thread pays per device message only the
 * station logic (leak interlock, angle valves, outbox): MQTT parsing, routing, ACL and payload
 * validation are on the worker's thread, so on another core.
 *
 * Promises kept:
 * - PUBACK after commit: each batch of messages is handed on synchronously, then the barrier
 *   set by `ackAfter` (the outbox's group commit) is awaited and the worker told `ack upTo`.
 * - A crash of the worker (an exception, out of memory, terminated) is fail-safe: no device
 *   message arrives, so the leak detectors go silent and the leak interlock locks the station,
 *   as when the broker is lost today. The worker is then restarted (1 s, doubling to 30 s), with
 *   the last retained gateway state and the taps set again; `restarts` counts it. The process
 *   does not exit: the posts' own safety (scale, valves) does not depend on the broker.
 */
import { Worker } from 'node:worker_threads';
import { Signal } from '../../protocols/signal.ts';
import { silentLogs, type Logger } from '../log.ts';
import type { BrokerCounters, Rejection, StationBrokerPort } from './broker.ts';
import type { BrokerConfig } from './config.ts';
import { TopicMap, type DeviceMessage, type GatewayState } from './topics.ts';

type Ports = { tcp: number; tls?: number; ws?: number };
export type FromWorker =
  | { t: 'ready'; ports: Ports }
  | { t: 'msgs'; from: number; messages: DeviceMessage[]; counters: BrokerCounters }
  | { t: 'rej'; r: Rejection; counters: BrokerCounters }
  | { t: 'conn'; devices: string[]; counters: BrokerCounters }
  | { t: 'counters'; counters: BrokerCounters }
  | { t: 'log'; level: string; obj: object; msg?: string }
  | { t: 'res'; id: number; err?: string }
  | { t: 'tapped'; id: number; topic: string; payload: Uint8Array };
export type ToWorker =
  | { t: 'ack'; upTo: number; ok: boolean }
  | { t: 'pub'; id: number; topic: string; payload: Uint8Array; qos: 0 | 1; retain: boolean }
  | { t: 'tap'; id: number; pattern: string }
  | { t: 'untap'; id: number }
  | { t: 'close'; id: number };

export interface WorkerBroker extends StationBrokerPort {
  /** Times the worker died and was started again. */
  readonly restarts: number;
  /** Ends the worker as a crash would (tests of the fail-safe path). */
  crash(): Promise<void>;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export async function startBrokerWorker(cfg: { station: string; broker: BrokerConfig }, deps: { log?: Logger; restartMs?: { base: number; max: number } } = {}): Promise<WorkerBroker> {
  const log = deps.log ?? silentLogs('mqtt.broker');
  const backoff = deps.restartMs ?? { base: 1_000, max: 30_000 };
  const topics = new TopicMap(cfg.station);
  const messages = new Signal<DeviceMessage>();
  const rejections = new Signal<Rejection>();
  const counters: BrokerCounters = { connects: 0, authFailures: 0, clientIdRefused: 0, penaltyRefusals: 0, publishRejected: 0, subscribeRejected: 0, payloadRejected: 0, messagesIn: 0 };
  // Counters survive a restart: the worker's own start again at 0, so add its figures to these.
  const base = { ...counters };
  const setCounters = (c: BrokerCounters) => {
    for (const k of Object.keys(counters) as (keyof BrokerCounters)[]) counters[k] = base[k] + c[k];
  };
  const ports: Ports = { tcp: 0 };
  let devices: string[] = [];
  let barrier: () => Promise<unknown> | undefined = () => undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const taps = new Map<number, { pattern: string; onMessage: (topic: string, payload: Buffer) => void }>();
  let lastState: GatewayState | undefined;
  let worker: Worker;
  let closing = false;
  /** False between a crash and the restart: calls fail at once instead of waiting for a worker that is gone. */
  let alive = false;
  let restarts = 0;
  let delay = backoff.base;
  let restartTimer: NodeJS.Timeout | undefined;

  const send = (m: ToWorker) => worker.postMessage(m);
  const call = (m: WithoutId<Extract<ToWorker, { id: number }>>, id = nextId++) =>
    new Promise<void>((resolve, reject) => {
      if (!alive) return reject(new Error('mqtt broker worker down'));
      pending.set(id, { resolve, reject });
      send({ ...m, id } as ToWorker);
    });

  const onMessage = (m: FromWorker) => {
    switch (m.t) {
      case 'msgs':
        setCounters(m.counters);
        inbox.push({ from: worker, first: m.from, messages: m.messages });
        if (!draining) (draining = true), setImmediate(drain);
        return;
      case 'rej':
        setCounters(m.counters);
        rejections.emit(m.r);
        return;
      case 'conn':
        setCounters(m.counters);
        devices = m.devices;
        return;
      case 'counters':
        setCounters(m.counters);
        return;
      case 'log':
        if ((LOG_LEVELS as readonly string[]).includes(m.level)) log[m.level as (typeof LOG_LEVELS)[number]](m.obj, m.msg);
        return;
      case 'res': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.err === undefined) p?.resolve();
        else p?.reject(new Error(m.err));
        return;
      }
      case 'tapped':
        taps.get(m.id)?.onMessage(m.topic, Buffer.from(m.payload));
        return;
      case 'ready':
        Object.assign(ports, m.ports);
        return;
    }
  };

  /**
   * Device messages wait here and are handed on at most DRAIN_MAX per turn: a backlog from the
   * worker (a burst of QoS 0) must not hold the posts' thread in one go. A batch's PUBACKs are
   * answered once all its messages are handed on and the barrier (the outbox commit) settles.
   */
  const DRAIN_MAX = 128;
  const inbox: { from: Worker; first: number; messages: DeviceMessage[]; next?: number }[] = [];
  let draining = false;
  const drain = () => {
    let budget = DRAIN_MAX;
    while (inbox.length > 0 && budget > 0) {
      const b = inbox[0];
      let i = b.next ?? 0;
      for (; i < b.messages.length && budget > 0; i++, budget--) messages.emit(b.messages[i]);
      b.next = i;
      if (i < b.messages.length) break;
      inbox.shift();
      // Every message of the batch is in the outbox's open group commit by now (the wiring adds synchronously).
      // Sequence numbers start again in a restarted worker: an answer is for the worker that asked, or dropped.
      const ack = (ok: boolean) => b.from === worker && b.from.postMessage({ t: 'ack', upTo: b.first + b.messages.length - 1, ok } satisfies ToWorker);
      const wait = barrier();
      if (!wait) ack(true);
      else wait.then(() => ack(true), () => ack(false));
    }
    if (inbox.length > 0) setImmediate(drain);
    else draining = false;
  };

  /** Starts a worker and waits for its listeners (a failure to bind rejects, as startStationBroker does). */
  const spawn = () =>
    new Promise<void>((resolve, reject) => {
      const levels = LOG_LEVELS.filter((l) => log.isLevelEnabled(l));
      worker = new Worker(new URL('./broker-worker.js', import.meta.url), { workerData: { station: cfg.station, broker: cfg.broker, levels } });
      const w = worker;
      let up = false;
      w.on('message', (m: FromWorker) => {
        onMessage(m);
        if (m.t === 'ready') (up = true), (alive = true), resolve();
      });
      w.on('error', (err) => {
        if (!up) return reject(err);
        log.error({ err: err.message }, 'mqtt broker worker failed');
      });
      w.on('exit', (code) => {
        if (!up) return reject(new Error(`mqtt broker worker exited with code ${code} before it listened`));
        if (closing || w !== worker) return;
        lost(code);
      });
    });

  /** The worker is gone: nothing more arrives from the devices (the leak interlock sees them go silent). */
  const lost = (code: number) => {
    alive = false;
    devices = [];
    Object.assign(base, counters);
    for (const p of pending.values()) p.reject(new Error('mqtt broker worker lost'));
    pending.clear();
    log.error({ code, restartInMs: delay }, 'mqtt broker worker lost: device messages stop (leak detectors go silent, the station locks); restarting it');
    restartTimer = setTimeout(() => void restart(), delay);
    delay = Math.min(delay * 2, backoff.max);
  };
  const restart = async () => {
    restartTimer = undefined;
    if (closing) return;
    try {
      await spawn();
    } catch (err) {
      log.error({ err: String(err), restartInMs: delay }, 'mqtt broker worker did not start');
      restartTimer = setTimeout(() => void restart(), delay);
      delay = Math.min(delay * 2, backoff.max);
      return;
    }
    restarts++;
    delay = backoff.base;
    log.warn({ restarts, ports }, 'mqtt broker worker restarted');
    for (const [id, t] of taps) send({ t: 'tap', id, pattern: t.pattern });
    if (lastState) void setGatewayState(lastState).catch(() => undefined);
  };

  const publish = (topic: string, payload: string | Buffer | object, opts: { qos?: 0 | 1; retain?: boolean } = {}) => {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    return call({ t: 'pub', topic, payload: body, qos: opts.qos ?? 1, retain: opts.retain ?? false });
  };
  const setGatewayState = (state: GatewayState) => {
    lastState = state;
    return publish(topics.gatewayState, state, { qos: 1, retain: true });
  };

  await spawn();
  return {
    topics,
    ports,
    messages,
    rejections,
    counters,
    get restarts() {
      return restarts;
    },
    publish,
    ackAfter: (b) => {
      barrier = b;
    },
    command: (device, envelope) => publish(topics.deviceTopic(device, 'cmd'), envelope, { qos: 1 }),
    setGatewayState,
    async tap(pattern, onMessage) {
      const id = nextId++;
      taps.set(id, { pattern, onMessage });
      await call({ t: 'tap', pattern }, id);
      return () => {
        taps.delete(id);
        send({ t: 'untap', id });
      };
    },
    connectedDevices: () => devices,
    async crash() {
      await worker.terminate();
    },
    async close() {
      closing = true;
      clearTimeout(restartTimer);
      const w = worker;
      await Promise.race([call({ t: 'close' }).catch(() => undefined), new Promise((r) => setTimeout(r, 5_000))]);
      await w.terminate();
    },
  };
}
