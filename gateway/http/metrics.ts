/**
 * Prometheus metrics of one Station (prom-client 15), in a Registry of its own,
 * not prom-client's global one, so tests and several stations in one process
 * never share or collide on a metric.
 *
 * Fed as things happen: poll latency from every Modbus exchange (ModbusBus.exchanges),
 * stream-scale frame intervals (driver samples), fills by outcome and trips and
 * refusals by reason (Station.events 'record'). Read at scrape time: device health,
 * record backlog and upload age, station locks, MQTT broker counters and relay outbox.
 */
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { errorMessage } from '../../protocols/errors.ts';
import type { ModbusExchange } from '../../protocols/modbus/bus.ts';
import type { Unsubscribe } from '../../protocols/signal.ts';
import type { ScaleDriver, WeightSample } from '../../devices/types.ts';
import { StreamScaleDriver } from '../../devices/scale/stream-scale.ts';
import type { Station } from '../runtime/station.ts';
import type { PostEvent } from '../runtime/post.ts';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export interface StationMetrics {
  readonly registry: Registry;
  /** Stops listening to the station (the registry stays readable). */
  stop(): void;
}

const byStation = new WeakMap<Station, MetricsImpl>();

/**
 * The station's metrics, created on first use. Call it right after
 * station.start() (fillgate start does) so no fill or exchange goes uncounted;
 * /metrics calls it too.
 */
export function stationMetrics(station: Station): StationMetrics {
  let m = byStation.get(station);
  if (!m) {
    m = new MetricsImpl(station);
    byStation.set(station, m);
  }
  m.attachDevices();
  return m;
}

/** The Prometheus text exposition (format 0.0.4) of the station's metrics. */
export async function metricsText(station: Station): Promise<string> {
  return stationMetrics(station).registry.metrics();
}

/** Answers GET /metrics: the exposition text, or 500 with the reason (never throws). */
export function serveMetrics(station: Station, res: ServerResponse): void {
  metricsText(station).then(
    (text) => {
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
      res.end(text);
    },
    (err) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`metrics failed: ${errorMessage(err)}\n`);
    },
  );
}

/** Modbus round trips: 1 ms (TCP loopback) to the 300 ms default timeout and beyond. */
const RTT_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1];
/** Stream frames: indicators send 5-50 frames/s; seconds apart means a stalled scale. */
const FRAME_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

class MetricsImpl implements StationMetrics {
  readonly registry = new Registry();
  private subs: Unsubscribe[] = [];
  private devicesAttached = false;
  private readonly pollLatency: Histogram<'bus' | 'device'>;
  private readonly exchanges: Counter<'bus' | 'device' | 'outcome'>;
  private readonly frameInterval: Histogram<'device'>;
  private readonly fills: Counter<'post' | 'outcome'>;
  private readonly trips: Counter<'post' | 'reason'>;
  private readonly refusals: Counter<'post' | 'reason'>;
  private lastFrameAt = new Map<string, number>();

  constructor(private readonly station: Station) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.pollLatency = new Histogram({ name: 'fillgate_poll_latency_seconds', help: 'Modbus request-to-answer time per device (answers and exceptions)', labelNames: ['bus', 'device'], buckets: RTT_BUCKETS, registers });
    this.exchanges = new Counter({ name: 'fillgate_modbus_exchanges_total', help: 'Modbus requests on the wire by outcome (ok, exception, silent, link)', labelNames: ['bus', 'device', 'outcome'], registers });
    this.frameInterval = new Histogram({ name: 'fillgate_stream_frame_interval_seconds', help: 'Time between good frames of a streaming scale', labelNames: ['device'], buckets: FRAME_BUCKETS, registers });
    this.fills = new Counter({ name: 'fillgate_fills_total', help: 'Fill attempts recorded, by outcome', labelNames: ['post', 'outcome'], registers });
    this.trips = new Counter({ name: 'fillgate_trips_total', help: 'Valve trips by reason code (gateway/reasons.ts)', labelNames: ['post', 'reason'], registers });
    this.refusals = new Counter({ name: 'fillgate_refusals_total', help: 'Refusals by reason code (gateway/reasons.ts)', labelNames: ['post', 'reason'], registers });
    this.subs.push(station.events.on((e) => this.onEvent(e)));
    this.scrapeTimeMetrics(registers);
  }

  /** Hooks buses and stream scales once the station has built its devices. */
  attachDevices(): void {
    const devices = this.station.devices;
    if (this.devicesAttached || !devices) return;
    this.devicesAttached = true;
    for (const [name, bus] of devices.buses) this.subs.push(bus.exchanges.on((x) => this.onExchange(name, x)));
    const scales: ScaleDriver[] = [...devices.posts.values()].map((p) => p.scale);
    if (devices.checkScale) scales.push(devices.checkScale);
    // Modbus scales are timed per exchange; stream scales by the spacing of their frames.
    for (const s of scales) if (s instanceof StreamScaleDriver) this.subs.push(s.samples.on((x) => this.onFrame(s.id, x)));
  }

  stop(): void {
    for (const off of this.subs.splice(0)) off();
  }

  private onExchange(bus: string, x: ModbusExchange): void {
    this.exchanges.inc({ bus, device: x.device, outcome: x.outcome });
    if (x.outcome === 'ok' || x.outcome === 'exception') this.pollLatency.observe({ bus, device: x.device }, x.rttMs / 1000);
  }

  private onFrame(device: string, s: WeightSample): void {
    const last = this.lastFrameAt.get(device);
    this.lastFrameAt.set(device, s.at);
    if (last !== undefined && s.at >= last) this.frameInterval.observe({ device }, (s.at - last) / 1000);
  }

  private onEvent(e: PostEvent): void {
    if (e.kind !== 'record') return;
    const a = e.attempt;
    this.fills.inc({ post: e.post, outcome: a.outcome });
    for (const t of a.trips ?? []) this.trips.inc({ post: e.post, reason: t.code });
    for (const r of a.refusals ?? []) this.refusals.inc({ post: e.post, reason: r.code });
  }

  /** Values owned elsewhere (health, store, uploader, MQTT), read when scraped. */
  private scrapeTimeMetrics(registers: Registry[]): void {
    const st = this.station;
    const health = () => (st.devices ? st.devices.health() : []);
    gauge(registers, 'fillgate_device_online', '1 when the device answered its last exchange', ['device'], (set) => {
      for (const h of health()) set({ device: h.device }, h.state === 'online' ? 1 : 0);
    });
    gauge(registers, 'fillgate_device_rtt_seconds', 'Round-trip time of the last good exchange', ['device'], (set) => {
      for (const h of health()) if (h.rttMs !== undefined) set({ device: h.device }, h.rttMs / 1000);
    });
    counter(registers, 'fillgate_device_frames_discarded_total', 'Byte runs discarded as garbage', ['device'], (add) => {
      for (const h of health()) add({ device: h.device }, h.framesDiscarded);
    });
    counter(registers, 'fillgate_device_failures_total', 'Failed exchanges per device', ['device'], (add) => {
      for (const h of health()) add({ device: h.device }, h.failures);
    });
    counter(registers, 'fillgate_records_total', 'Fill records committed (in the store)', [], (add) => {
      if (st.store) add({}, st.store.counts().total);
    });
    gauge(registers, 'fillgate_records_pending', 'Records not yet acknowledged by the platform (upload backlog)', [], (set) => {
      if (st.store) set({}, st.store.counts().pending);
    });
    gauge(registers, 'fillgate_upload_oldest_unacked_seconds', 'Age of the oldest unacknowledged record', [], (set) => {
      const t = st.uploader?.timeliness();
      if (t) set({}, t.oldestUnackedAgeMs / 1000);
    });
    counter(registers, 'fillgate_upload_failures_total', 'Failed upload batches by cause (stall, timeout, reset, closed, refused, dns, tls, http_4xx, http_5xx, bad_reply, rejected, other)', ['cause'], (add) => {
      const byCause = st.uploader?.failuresByCause;
      if (byCause) for (const [cause, v] of Object.entries(byCause)) add({ cause }, v ?? 0);
    });
    counter(registers, 'fillgate_upload_records_acked_total', 'Records the platform acknowledged (accepted or duplicate) since start', [], (add) => {
      if (st.uploader) add({}, st.uploader.stats.acked);
    });
    gauge(registers, 'fillgate_upload_batch_limit', 'Records in the next upload batch (halved after a failure, doubled after a success)', [], (set) => {
      if (st.uploader) set({}, st.uploader.stats.batchLimit);
    });
    // The posts' polls and cut-offs run on this loop (stale-weight limit 300 ms): lag at 1 ms resolution, last 10 s window.
    gauge(registers, 'fillgate_event_loop_lag_seconds', 'Event-loop lag over the last window (10 s, 1 ms resolution), by quantile (0.5, 0.99, 1 = max)', ['quantile'], (set) => {
      const l = st.loopLag.snapshot();
      set({ quantile: '0.5' }, l.p50Ms / 1000);
      set({ quantile: '0.99' }, l.p99Ms / 1000);
      set({ quantile: '1' }, l.maxMs / 1000);
    });
    gauge(registers, 'fillgate_event_loop_lag_worst_seconds', 'Largest event-loop lag of any window since start', [], (set) => set({}, st.loopLag.snapshot().worstMs / 1000));
    gauge(registers, 'fillgate_registry_import_running', '1 while a registry import runs (in a worker thread)', [], (set) => set({}, st.imports.running ? 1 : 0));
    gauge(registers, 'fillgate_station_locked', '1 while new fills are refused for this lock', ['lock'], (set) => {
      const on = new Set(st.lockState.map((l) => l.lock));
      for (const lock of ['leak', 'upload', 'store', 'remote'] as const) set({ lock }, on.has(lock) ? 1 : 0);
    });
    // Every leak detector the interlock watches, MQTT or Modbus: alarm level (0-2; a silent or faulty one shows in the lock) and %LEL.
    gauge(registers, 'fillgate_leak_detector_level', 'Alarm level of each leak detector (0 clear, 1, 2)', ['device'], (set) => {
      for (const [device, d] of Object.entries(st.leak?.interlock.state.detectors ?? {})) set({ device }, d.level);
    });
    gauge(registers, 'fillgate_leak_detector_lel_percent', 'Last gas reading of each leak detector (%LEL)', ['device'], (set) => {
      for (const [device, d] of Object.entries(st.leak?.interlock.state.detectors ?? {})) if (d.lel !== undefined) set({ device }, d.lel);
    });
    this.mqttMetrics(registers);
  }

  private mqttMetrics(registers: Registry[]): void {
    const st = this.station;
    counter(registers, 'fillgate_mqtt_broker_events_total', 'Embedded broker: connects, auth failures, penalty refusals, rejected publishes/subscribes/payloads, messages in', ['event'], (add) => {
      const c = st.mqtt?.broker.counters;
      if (c) for (const [event, v] of Object.entries(c)) add({ event }, v);
    });
    gauge(registers, 'fillgate_mqtt_devices_connected', 'Station devices connected to the embedded broker', [], (set) => {
      if (st.mqtt) set({}, st.mqtt.broker.connectedDevices().length);
    });
    gauge(registers, 'fillgate_outbox_messages', 'Relay outbox backlog by class', ['class'], (set) => {
      const b = st.mqtt?.relay?.status().backlog;
      if (b) for (const c of ['alarm', 'record', 'telemetry'] as const) set({ class: c }, b.byClass[c]);
    });
    gauge(registers, 'fillgate_outbox_oldest_age_seconds', 'Age of the oldest message waiting for the upstream broker', [], (set) => {
      const b = st.mqtt?.relay?.status().backlog;
      if (b) set({}, b.oldestAgeMs / 1000);
    });
    gauge(registers, 'fillgate_upstream_connected', '1 while the relay is connected upstream', [], (set) => {
      const r = st.mqtt?.relay;
      if (r) set({}, r.status().connected ? 1 : 0);
    });
    counter(registers, 'fillgate_upstream_messages_total', 'Relay: published, acknowledged, publish errors, telemetry dropped', ['event'], (add) => {
      const s = st.mqtt?.relay?.status();
      if (!s) return;
      add({ event: 'published' }, s.published);
      add({ event: 'acked' }, s.acked);
      add({ event: 'publish_error' }, s.publishErrors);
      add({ event: 'telemetry_dropped' }, s.backlog.telemetryDropped);
    });
  }
}

type Labels = Record<string, string>;

/** A gauge whose values are read at scrape time; absent sources leave it empty. */
function gauge(registers: Registry[], name: string, help: string, labelNames: string[], read: (set: (l: Labels, v: number) => void) => void): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      read((l, v) => this.set(l, Number.isFinite(v) ? v : 0));
    },
  });
}

/** A counter whose running total is kept elsewhere (store, broker): copied at scrape time. */
function counter(registers: Registry[], name: string, help: string, labelNames: string[], read: (add: (l: Labels, v: number) => void) => void): void {
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      read((l, v) => this.inc(l, Number.isFinite(v) && v > 0 ? v : 0));
    },
  });
}
