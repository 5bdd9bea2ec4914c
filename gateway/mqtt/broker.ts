/**
 * The station's embedded MQTT broker (issue 4 point 1): aedes on the station LAN over TCP,
 * optionally TLS and WebSocket. Each device authenticates with its own id and password
 * (checked against a scrypt hash); the ACL in acl.ts limits its topics; refusals are logged
 * with client and topic, counted, and feed the penalty box so a refused device cannot
 * reconnect-storm the broker. Valid device messages come out of `messages`; a bad payload is
 * refused with a reason and counted (point 2) without touching anything else.
 *
 * Messages are taken in `authorizePublish`, not on aedes' 'publish' event: aedes 1.2 writes a
 * QoS 1 PUBACK before it publishes (lib/handlers/publish.js enqueuePublish), so that hook is
 * the only place that can hold the PUBACK until the message's outbox rows are committed.
 */
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createHttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Aedes, type Client, type AuthenticateError, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { Signal } from '../../protocols/signal.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { silentLogs, type Logger } from '../log.ts';
import type { BrokerConfig, DeviceKind, MqttDeviceConfig } from './config.ts';
import { canPublish, canSubscribe } from './acl.ts';
import { PenaltyBox, addressKey, claimKey, deviceKey } from './penalty.ts';
import { verifyPassword } from './password.ts';
import { cut, TopicMap, type CommandEnvelope, type DeviceMessage, type GatewayState } from './topics.ts';

export interface BrokerDeps {
  clock?: Clock;
  log?: Logger;
}

export type RejectionAction = 'connect' | 'publish' | 'subscribe' | 'payload';
export interface Rejection {
  action: RejectionAction;
  clientId: string;
  device?: string;
  topic?: string;
  /** Source address of the connection (CONNECT refusals are keyed on it in the penalty box). */
  address?: string;
  reason: string;
}

export interface BrokerCounters {
  connects: number;
  authFailures: number;
  /** CONNECTs refused because the client id is not the authenticated device's (issue 12 point 14). */
  clientIdRefused: number;
  penaltyRefusals: number;
  publishRejected: number;
  subscribeRejected: number;
  payloadRejected: number;
  messagesIn: number;
}

/**
 * What the station needs of its broker, whichever thread runs it: `startStationBroker` (this
 * file, on the calling thread) or `startBrokerWorker` (broker-thread.ts, aedes in a worker).
 */
export interface StationBrokerPort {
  readonly topics: TopicMap;
  /** Bound ports (useful when the config says 0). */
  readonly ports: { tcp: number; tls?: number; ws?: number };
  readonly messages: Signal<DeviceMessage>;
  readonly rejections: Signal<Rejection>;
  readonly counters: BrokerCounters;
  /** Publish as the gateway (bypasses the device ACL). */
  publish(topic: string, payload: string | Buffer | object, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /**
   * Hold each device's QoS 1 PUBACK until `barrier()` settles: the wiring passes the outbox's
   * group commit, so a message is acknowledged only once what it caused is on disk (issue 14
   * point 5). A failed commit closes the device's connection unacknowledged: it sends again.
   */
  ackAfter(barrier: () => Promise<unknown> | undefined): void;
  /** Send a command envelope to one device's cmd topic, QoS 1. */
  command(device: string, envelope: CommandEnvelope): Promise<void>;
  /** Retained gateway state on the local broker. */
  setGatewayState(state: GatewayState): Promise<void>;
  /** Everything published on the broker under `pattern` (MQTT wildcards), as the gateway sees it; resolves to an unsubscribe. */
  tap(pattern: string, onMessage: (topic: string, payload: Buffer) => void): Promise<() => void>;
  connectedDevices(): string[];
  close(): Promise<void>;
}

export interface StationBroker extends StationBrokerPort {
  readonly aedes: Aedes;
  readonly penalty: PenaltyBox;
}

const deviceOf = new WeakMap<Client, MqttDeviceConfig>();

/** The source address of a client's connection (TCP, TLS or WebSocket). */
function addressOf(client: Client): string {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  return conn?.remoteAddress ?? client.req?.socket?.remoteAddress ?? 'unknown';
}

/**
 * A client id belongs to the device that authenticated (issue 12 point 14): it is the device id
 * itself or `<device id>:<anything>` (`:` cannot occur in a device id, so no device's id is
 * derived from another's). Otherwise any valid device could take another's client id and
 * knock it off the broker (MQTT 3.1.1 §3.1.4: a CONNECT with a connected client id closes
 * the old connection).
 */
export function clientIdBelongsTo(clientId: string, device: string): boolean {
  return clientId === device || clientId.startsWith(`${device}:`);
}

/** The penalty keys a refusal counts against: where a CONNECT came from, or the authenticated device. */
function penaltyKeysOf(r: Rejection): string[] {
  if (r.action === 'connect') {
    const address = r.address ?? 'unknown';
    return r.device === undefined ? [addressKey(address)] : [addressKey(address), claimKey(r.device, address)];
  }
  return [r.device !== undefined ? deviceKey(r.device) : addressKey(r.address ?? r.clientId)];
}

/** Refused payloads per penalty strike: a refused publish is one strike, refused payloads count a third each. */
export const PAYLOAD_STRIKE_EVERY = 3;

function authError(message: string, returnCode: number): AuthenticateError {
  // The AuthErrorCode enum is type-only in aedes 1.2 (engineering.md): set the number by hand.
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function listen(server: Server | ReturnType<typeof createHttpServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startStationBroker(cfg: { station: string; broker: BrokerConfig }, deps: BrokerDeps = {}): Promise<StationBroker> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogs('mqtt.broker');
  const topics = new TopicMap(cfg.station);
  const devices = new Map(cfg.broker.devices.map((d) => [d.id, d]));
  const penalty = new PenaltyBox(cfg.broker.penalty, clock);
  const messages = new Signal<DeviceMessage>();
  const rejections = new Signal<Rejection>();
  let suspectCheckBusy = false;
  const counters: BrokerCounters = { connects: 0, authFailures: 0, clientIdRefused: 0, penaltyRefusals: 0, publishRejected: 0, subscribeRejected: 0, payloadRejected: 0, messagesIn: 0 };
  const payloadRefusals = new Map<string, number>();

  const reject = (r: Rejection, countsTowardPenalty: boolean) => {
    // One bounded line per refusal: the reason once (in the message), client id and topic cut short.
    log.warn({ action: r.action, clientId: cut(r.clientId, 64), device: r.device, topic: r.topic === undefined ? undefined : cut(r.topic, 160) }, `mqtt ${r.action} refused: ${cut(r.reason, 600)}`);
    if (countsTowardPenalty) {
      for (const key of penaltyKeysOf(r)) {
        const banMs = penalty.reject(key);
        if (banMs > 0) log.warn({ key, device: r.device, clientId: r.clientId, banMs }, 'mqtt client put in the penalty box');
      }
    }
    rejections.emit(r);
  };

  let ackBarrier: (() => Promise<unknown> | undefined) | undefined;
  /** Validates and hands on one authorised device message; true when the device has just been banned for bad payloads. */
  const take = (device: MqttDeviceConfig, client: Client, packet: PublishPacket): boolean => {
    const parsed = topics.parseDeviceTopic(packet.topic);
    if (!parsed) return false;
    counters.messagesIn++;
    const v = topics.validateInbound(device.kind as DeviceKind, device.id, parsed.channel, packet.payload as Buffer);
    if (v.ok) {
      messages.emit(v.message);
      return false;
    }
    counters.payloadRejected++;
    // A bad payload leaves the device connected, but a device that keeps sending them is put in
    // the penalty box like one whose publishes are refused (issue 13): every PAYLOAD_STRIKE_EVERY-th
    // refusal counts as one strike, so a single odd message never bans a detector.
    const n = (payloadRefusals.get(device.id) ?? 0) + 1;
    payloadRefusals.set(device.id, n);
    const strike = n % PAYLOAD_STRIKE_EVERY === 0;
    reject({ action: 'payload', clientId: client.id, device: device.id, topic: packet.topic, reason: v.reason }, strike);
    return strike && penalty.bannedFor(deviceKey(device.id)) > 0;
  };

  const aedes = await Aedes.createBroker({
    heartbeatInterval: 60_000,
    authenticate(client, username, password, done) {
      const address = addressOf(client);
      const device = username === undefined ? undefined : devices.get(username);
      const refuse = (reason: string) => {
        counters.penaltyRefusals++;
        // Code 3 "server unavailable": refused before any scrypt work, so a storm costs little.
        done(authError(reason, 3), false);
      };
      // Earned only by this device's own refusals after it proved its password: cannot be forged.
      const deviceBan = device ? penalty.bannedFor(deviceKey(device.id)) : 0;
      if (deviceBan > 0) return refuse(`in penalty box for ${deviceBan} ms`);
      // Refusals from this address (any name, or this name) do not lock out a correct password:
      // such CONNECTs are still checked, but one at a time, so a storm costs one scrypt at a time.
      const suspect = penalty.bannedFor(addressKey(address)) > 0 || (username !== undefined && penalty.bannedFor(claimKey(username, address)) > 0);
      if (suspect && suspectCheckBusy) return refuse('source in penalty box: one check at a time');
      const fail = (reason: string, returnCode = 4) => {
        if (returnCode === 4) counters.authFailures++;
        reject({ action: 'connect', clientId: client.id, device: username, address, reason }, true);
        done(authError(reason, returnCode), false);
      };
      if (!device || !password) return fail('unknown device or no password');
      if (suspect) suspectCheckBusy = true;
      verifyPassword(password, device.passwordHash).then(
        (ok) => {
          if (suspect) suspectCheckBusy = false;
          if (!ok) return fail('bad password');
          // Checked after the password, so the answer tells a stranger nothing about which names exist.
          if (!clientIdBelongsTo(client.id, device.id)) {
            counters.clientIdRefused++;
            // Code 2 "identifier rejected".
            return fail(`client id "${client.id}" is not device ${device.id}'s: use "${device.id}" or "${device.id}:<suffix>"`, 2);
          }
          // Probation: a device that reconnects soon after its own refusals counts one more, so a
          // firmware that reconnects faster than its refusals land is banned by its CONNECT rate.
          if (penalty.recentRejections(deviceKey(device.id)) > 0 && penalty.reject(deviceKey(device.id)) > 0) {
            return refuse('reconnecting after refusals: in penalty box');
          }
          deviceOf.set(client, device);
          counters.connects++;
          done(null, true);
        },
        () => {
          if (suspect) suspectCheckBusy = false;
          fail('password check failed');
        },
      );
    },
    authorizePublish(client, packet, callback) {
      // client null: aedes re-publishing a stored will of a client that is gone; it was authorised then.
      if (!client) return callback(null);
      const device = deviceOf.get(client);
      const decision = device ? canPublish(topics, device.id, packet.topic) : { allow: false as const, reason: 'not authenticated' };
      if (!decision.allow) {
        counters.publishRejected++;
        reject({ action: 'publish', clientId: client.id, device: device?.id, topic: packet.topic, reason: decision.reason }, true);
        return callback(new Error(decision.reason));
      }
      const banned = take(device!, client, packet);
      // QoS 0 has no PUBACK to hold; a QoS 1 PUBACK waits for the group commit of what it caused.
      const wait = packet.qos > 0 && !banned ? ackBarrier?.() : undefined;
      if (!wait) {
        callback(null);
        if (banned) client.close();
        return;
      }
      wait.then(
        () => callback(null),
        (err) => {
          log.error({ clientId: cut(client.id, 64), topic: cut(packet.topic, 160), err: String(err) }, 'device message not acknowledged: outbox commit failed');
          callback(new Error('outbox commit failed'));
        },
      );
    },
    authorizeSubscribe(client, sub, callback) {
      const device = deviceOf.get(client);
      const decision = device ? canSubscribe(topics, device.id, sub.topic) : { allow: false as const, reason: 'not authenticated' };
      if (decision.allow) return callback(null, sub);
      counters.subscribeRejected++;
      reject({ action: 'subscribe', clientId: client.id, device: device?.id, topic: sub.topic, reason: decision.reason }, true);
      // null negates this subscription (SUBACK 0x80) without closing the connection.
      callback(null, null);
    },
  });

  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error'));

  const servers: { close(cb: () => void): unknown }[] = [];
  const host = cfg.broker.host;
  const tcp = createNetServer((socket) => aedes.handle(socket));
  servers.push(tcp);
  const ports: { tcp: number; tls?: number; ws?: number } = { tcp: await listen(tcp, cfg.broker.port, host) };
  if (cfg.broker.tls) {
    const t = cfg.broker.tls;
    const tlsServer = createTlsServer(
      { cert: readFileSync(t.certFile), key: readFileSync(t.keyFile), ca: t.caFile ? readFileSync(t.caFile) : undefined },
      (socket) => aedes.handle(socket),
    );
    servers.push(tlsServer);
    ports.tls = await listen(tlsServer, t.port, host);
  }
  let wss: WebSocketServer | undefined;
  if (cfg.broker.ws) {
    const http = createHttpServer();
    wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
    servers.push(http);
    ports.ws = await listen(http, cfg.broker.ws.port, host);
  }
  log.info({ ports }, 'mqtt broker listening');

  const publish = (topic: string, payload: string | Buffer | object, opts: { qos?: 0 | 1; retain?: boolean } = {}) =>
    new Promise<void>((resolve, reject) => {
      const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
      const packet = { cmd: 'publish', topic, payload: body, qos: opts.qos ?? 1, retain: opts.retain ?? false, dup: false } as PublishPacket;
      aedes.publish(packet, (err) => (err ? reject(err) : resolve()));
    });

  return {
    aedes,
    topics,
    ports,
    messages,
    rejections,
    counters,
    penalty,
    publish,
    ackAfter: (barrier) => {
      ackBarrier = barrier;
    },
    command: (device, envelope) => publish(topics.deviceTopic(device, 'cmd'), envelope, { qos: 1 }),
    setGatewayState: (state) => publish(topics.gatewayState, state, { qos: 1, retain: true }),
    tap: (pattern, onMessage) =>
      new Promise((resolve) => {
        const deliver = (packet: PublishPacket, cb: () => void) => (onMessage(packet.topic, packet.payload as Buffer), cb());
        aedes.subscribe(pattern, deliver, () => resolve(() => aedes.unsubscribe(pattern, deliver, () => undefined)));
      }),
    connectedDevices() {
      const ids: string[] = [];
      for (const c of Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)) {
        const d = deviceOf.get(c);
        if (d) ids.push(d.id);
      }
      return ids;
    },
    async close() {
      await publish(topics.gatewayState, { state: 'offline', station: cfg.station }, { qos: 1, retain: true }).catch(() => undefined);
      wss?.clients.forEach((c) => c.terminate());
      await new Promise<void>((r) => aedes.close(() => r()));
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
