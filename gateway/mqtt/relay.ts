/**
 * Relay to the upstream broker (issue 4 point 4): an mqtt.js client (MQTT 3.1.1 or 5, TLS,
 * credentials, client id from the station code) that drains the SQLite outbox with QoS 1.
 * A row leaves the outbox only on PUBACK; at most `window` rows are in flight
 * (engineering.md: unbounded publishing trips MaxListeners). In-flight rows survive a
 * reconnect in mqtt.js's store and are resent first, so order is kept. The gateway state
 * is retained upstream with a last will of offline; subscriptions are restored on every
 * CONNACK without a session.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { Signal } from '../../protocols/signal.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { silentLogs, type Logger } from '../log.ts';
import type { UpstreamConfig } from './config.ts';
import type { Backlog, Outbox, OutboxMessage } from './outbox.ts';
import { TopicMap, type GatewayState } from './topics.ts';

export interface RelayDeps {
  outbox: Outbox;
  clock?: Clock;
  log?: Logger;
}

export interface RelayStatus {
  connected: boolean;
  /** CONNACKs received since start (1 = never reconnected). */
  connects: number;
  published: number;
  acked: number;
  publishErrors: number;
  /** Group commits that failed (their messages were not queued; the callers were told). */
  storeErrors: number;
  inFlight: number;
  lastError?: string;
  backlog: Backlog;
}

export class UpstreamRelay {
  readonly topics: TopicMap;
  /** Messages arriving on the relay's upstream subscriptions (e.g. gateway commands). */
  readonly inbound = new Signal<{ topic: string; payload: Buffer }>();
  readonly connection = new Signal<{ connected: boolean }>();
  private client?: MqttClient;
  private inFlight = new Set<number>();
  private pendingAcks: number[] = [];
  private filters = new Set<string>();
  private pumpScheduled = false;
  private stopped = false;
  private counters = { connects: 0, published: 0, acked: 0, publishErrors: 0, storeErrors: 0 };
  private lastError?: string;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private cfg: { station: string; upstream: UpstreamConfig }, private deps: RelayDeps) {
    this.topics = new TopicMap(cfg.station);
    this.log = deps.log ?? silentLogs('mqtt.relay');
    this.clock = deps.clock ?? systemClock;
    this.filters.add(this.topics.gatewayCmd);
  }

  get clientId(): string {
    return `fillgate-${this.cfg.station}`;
  }

  start(): void {
    const u = this.cfg.upstream;
    const offline: GatewayState = { state: 'offline', station: this.cfg.station };
    const opts: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: u.protocolVersion,
      username: u.username,
      password: u.password,
      keepalive: u.keepaliveSec,
      reconnectPeriod: u.reconnectMs,
      connectTimeout: 10_000,
      // Persistent session: the upstream keeps our command subscription and queues commands while we are away.
      clean: false,
      ...(u.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 7 * 24 * 3600 } } : {}),
      resubscribe: false,
      // mqtt.js 5 stops reconnecting for good after a refused CONNACK (bad credentials, not authorised,
      // server unavailable). An unattended gateway must keep trying so its outbox drains once the upstream
      // operator fixes the credential or the broker recovers; until then status().lastError says why.
      reconnectOnConnackError: true,
      will: { topic: this.topics.gatewayState, payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
      ca: u.caFile ? readFileSync(u.caFile) : undefined,
      cert: u.certFile ? readFileSync(u.certFile) : undefined,
      key: u.keyFile ? readFileSync(u.keyFile) : undefined,
      rejectUnauthorized: u.rejectUnauthorized,
    };
    const client = mqtt.connect(u.url, opts);
    this.client = client;
    client.on('connect', (connack) => this.onConnect(connack.sessionPresent));
    client.on('close', () => this.connection.emit({ connected: false }));
    client.on('error', (err) => {
      this.lastError = err.message;
      this.log.warn({ err: err.message }, 'upstream error');
    });
    client.on('message', (topic, payload) => this.inbound.emit({ topic, payload }));
  }

  private onConnect(sessionPresent: boolean): void {
    // A connection that works supersedes the error that kept it down (status() would show both).
    this.lastError = undefined;
    this.counters.connects++;
    this.log.info({ sessionPresent, connects: this.counters.connects }, 'upstream connected');
    this.connection.emit({ connected: true });
    const client = this.client!;
    // Restore subscriptions whenever the broker lost our session (restart, expiry): Z-Wave JS UI #3109.
    if (!sessionPresent && this.filters.size > 0) {
      client.subscribe([...this.filters], { qos: 1 }, (err) => err && this.log.warn({ err: err.message }, 'upstream resubscribe failed'));
    }
    const online: GatewayState = { state: 'online', station: this.cfg.station, at: new Date(this.clock.wall()).toISOString() };
    client.publish(this.topics.gatewayState, JSON.stringify(online), { qos: 1, retain: true });
    this.schedulePump();
  }

  /** Adds an upstream subscription, kept across reconnects. */
  subscribe(filter: string): void {
    this.filters.add(filter);
    if (this.client?.connected) this.client.subscribe(filter, { qos: 1 });
  }

  /**
   * Write first, then send: the message joins the outbox's group commit (written at the end of
   * this event-loop turn) and is published only once committed. Resolves with the row id after
   * the commit; a failed commit is logged and counted here (`storeErrors`), so a caller that does
   * not wait cannot crash the process with an unhandled rejection, and one that waits hears it.
   */
  send(msg: OutboxMessage): Promise<number> {
    const committed = this.deps.outbox.add(msg);
    committed.then(
      () => this.schedulePump(),
      (err) => {
        this.counters.storeErrors++;
        this.lastError = errorMessage(err);
        this.log.error({ err: this.lastError, topic: msg.topic, class: msg.class }, 'outbox commit failed: message NOT queued upstream');
      },
    );
    return committed;
  }

  /** Settles when every message sent so far is committed (the broker holds its PUBACKs on it); undefined if none waits. */
  committed(): Promise<void> | undefined {
    return this.deps.outbox.committed();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      try {
        this.flushAcks();
        this.pump();
      } catch (err) {
        // Never let a store error end the relay: note it and try again shortly.
        this.lastError = errorMessage(err);
        this.log.error({ err: this.lastError }, 'relay pump failed');
        setTimeout(() => this.schedulePump(), 1000).unref();
      }
    });
  }

  private flushAcks(): void {
    if (this.pendingAcks.length === 0) return;
    const ids = this.pendingAcks;
    this.deps.outbox.ack(ids);
    this.pendingAcks = [];
    // Only now may a slot be reused: an acked row still in the outbox must not be picked again.
    for (const id of ids) this.inFlight.delete(id);
  }

  private pump(): void {
    const client = this.client;
    if (!client?.connected || this.stopped) return;
    const free = this.cfg.upstream.window - this.inFlight.size;
    if (free <= 0) return;
    for (const row of this.deps.outbox.next(free, this.inFlight)) {
      this.inFlight.add(row.id);
      this.counters.published++;
      const properties = this.cfg.upstream.protocolVersion === 5 ? { userProperties: { 'outbox-id': String(row.id) } } : undefined;
      client.publish(row.topic, row.payload, { qos: 1, retain: row.retain, properties }, (err) => {
        if (err) {
          // Only when the client is ended: the row stays in the outbox and goes again next run.
          this.counters.publishErrors++;
          this.inFlight.delete(row.id);
          return;
        }
        this.counters.acked++;
        this.pendingAcks.push(row.id);
        this.schedulePump();
      });
    }
  }

  status(): RelayStatus {
    return {
      connected: !!this.client?.connected,
      ...this.counters,
      inFlight: this.inFlight.size,
      lastError: this.lastError,
      backlog: this.deps.outbox.backlog(),
    };
  }

  /** The backlog and counters in Prometheus text format, for the runtime's /metrics. */
  metricsText(): string {
    const s = this.status();
    const b = s.backlog;
    const lines = [
      '# TYPE fillgate_outbox_messages gauge',
      ...(['alarm', 'record', 'telemetry'] as const).map((c) => `fillgate_outbox_messages{class="${c}"} ${b.byClass[c]}`),
      '# TYPE fillgate_outbox_bytes gauge',
      `fillgate_outbox_bytes ${b.bytes}`,
      '# TYPE fillgate_outbox_oldest_age_seconds gauge',
      `fillgate_outbox_oldest_age_seconds ${(b.oldestAgeMs / 1000).toFixed(3)}`,
      '# TYPE fillgate_outbox_telemetry_dropped_total counter',
      `fillgate_outbox_telemetry_dropped_total ${b.telemetryDropped}`,
      '# TYPE fillgate_upstream_connected gauge',
      `fillgate_upstream_connected ${s.connected ? 1 : 0}`,
      '# TYPE fillgate_upstream_acked_total counter',
      `fillgate_upstream_acked_total ${s.acked}`,
      '# TYPE fillgate_outbox_store_errors_total counter',
      `fillgate_outbox_store_errors_total ${s.storeErrors}`,
    ];
    return lines.join('\n') + '\n';
  }

  /** Graceful stop: says offline upstream (retained), then disconnects. Unacked rows stay in the outbox. */
  async stop(): Promise<void> {
    this.stopped = true;
    // What was sent this turn is committed before we go: it leaves with the next run.
    this.deps.outbox.flush();
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      const offline: GatewayState = { state: 'offline', station: this.cfg.station };
      await Promise.race([
        client.publishAsync(this.topics.gatewayState, JSON.stringify(offline), { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    }
    try {
      this.flushAcks();
    } catch {
      // the rows stay and are sent again: a duplicate, never a loss
    }
    await client.endAsync(true);
  }
}
