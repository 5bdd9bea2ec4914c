/**
 * Benchmark (issue 4 point 7, issue 14 point 5): device messages per second through the
 * station's MQTT side, the embedded aedes broker against mosquitto in its place, QoS 0 and
 * QoS 1 on the device leg, same publishers, same gateway code behind, same upstream.
 *
 * Both sides run what ships: a real SQLite file (WAL, synchronous=FULL, telemetry NORMAL),
 * the outbox's group commit, the relay with the config defaults (window 50, telemetry cap
 * 20,000), an upstream mosquitto and a subscriber there. The aedes side is wired by
 * `wireStationMqtt` as in the runtime, so its QoS 1 PUBACK waits for the commit; with
 * mosquitto the gateway is a client of the local broker and validates and commits the same way
 * (mosquitto acknowledges on receipt, before the gateway has even seen the message).
 *
 * Two figures per run, so the ratio is not capped by the upstream (issue 14, "the bench
 * flatters"): ingest = messages committed to the outbox per second from the first publish
 * (what the broker and the gateway take in), and relayed = messages at the upstream subscriber
 * per second (what the relay drains, the same code on both sides). Runs alternate aedes and
 * mosquitto and the median of `reps` is printed.
 * Run: `node --import tsx test/bench/mqtt.ts [messages] [reps]` (or `npm run bench -- mqtt`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { startStationBroker } from '../../gateway/mqtt/broker.ts';
import { brokerSchema, outboxSchema, upstreamSchema } from '../../gateway/mqtt/config.ts';
import { Outbox, type OutboxMessage } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { TopicMap } from '../../gateway/mqtt/topics.ts';
import { wireStationMqtt } from '../../gateway/mqtt/wiring.ts';
import { systemClock } from '../../protocols/clock.ts';
import { deviceConfigs, freePort, hasBinary, Mosquitto } from '../gateway/mqtt-support.ts';

const DEVICES = 4;
/** Unacknowledged messages per device (QoS 1), or messages per write burst (QoS 0). */
const WINDOW = 100;
const TIMEOUT_MS = 120_000;

type Kind = 'aedes' | 'mosquitto';
interface Run {
  broker: Kind;
  qos: 0 | 1;
  /** Committed to the outbox per second, from the first publish. */
  ingestPerSec: number;
  /** Received by the upstream subscriber per second, from the first publish. */
  relayedPerSec: number;
  committed: number;
  relayed: number;
}

/** The outbox the runtime builds, counting rows as their group commit resolves (the bench's clock for "ingested"). */
class CountingOutbox extends Outbox {
  committedRows = 0;
  override add(msg: OutboxMessage): Promise<number> {
    const p = super.add(msg);
    p.then(() => this.committedRows++, () => undefined);
    return p;
  }
}

/** Each device publishes its share with at most WINDOW unacknowledged (QoS 1) or in bursts of WINDOW (QoS 0). */
async function publishAll(clients: MqttClient[], perDevice: number, qos: 0 | 1, ids: string[]): Promise<void> {
  await Promise.all(
    clients.map(async (c, i) => {
      const topic = `fillgate/ST1/dev/${ids[i]}/state`;
      for (let k = 0; k < perDevice; k += WINDOW) {
        const batch: Promise<unknown>[] = [];
        for (let j = k; j < Math.min(perDevice, k + WINDOW); j++) {
          batch.push(c.publishAsync(topic, JSON.stringify({ lel: j % 20, level: 0, fault: false, ts: j }), { qos }));
        }
        await Promise.all(batch);
        if (qos === 0) await new Promise((r) => setImmediate(r));
      }
    }),
  );
}

const until = (cond: () => boolean, deadline: number) =>
  new Promise<void>((resolve) => {
    const tick = () => (cond() || Date.now() > deadline ? resolve() : setTimeout(tick, 1));
    tick();
  });

export async function runOnce(kind: Kind, qos: 0 | 1, total: number, upstreamUrl: string): Promise<Run> {
  const ids = Array.from({ length: DEVICES }, (_, i) => `ld${i}`);
  const { devices, passwords } = deviceConfigs(ids.map((id) => [id, 'leak-detector'] as [string, 'leak-detector']));
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-mqtt-bench-'));
  const db = new Database(join(dir, 'gateway.db'));
  const outbox = new CountingOutbox(db, { telemetryCap: outboxSchema.parse({}).telemetryCap, clock: systemClock });
  const upstream = upstreamSchema.parse({ url: upstreamUrl });
  const relay = new UpstreamRelay({ station: 'ST1', upstream }, { outbox });
  relay.start();

  let url: string;
  let teardown: () => Promise<void>;
  if (kind === 'aedes') {
    const broker = await startStationBroker({ station: 'ST1', broker: brokerSchema.parse({ host: '127.0.0.1', port: 0, devices }) });
    const unwire = wireStationMqtt({ broker, relay });
    url = `mqtt://127.0.0.1:${broker.ports.tcp}`;
    teardown = async () => {
      unwire();
      await broker.close();
    };
  } else {
    // mosquitto in the embedded broker's place: the gateway is its client and validates and commits the same way.
    const local = new Mosquitto(await freePort(), false);
    await local.start();
    const topics = new TopicMap('ST1');
    const gw = mqtt.connect(local.url, { clientId: 'gw-local' });
    gw.on('message', (topic, payload) => {
      const p = topics.parseDeviceTopic(topic);
      if (!p) return;
      const v = topics.validateInbound('leak-detector', p.device, p.channel, payload);
      if (v.ok) void relay.send({ topic: topics.deviceTopic(p.device, 'state'), payload: JSON.stringify(v.message.data), class: 'telemetry' });
    });
    await new Promise((r) => gw.once('connect', r));
    await gw.subscribeAsync('fillgate/ST1/dev/+/state', { qos });
    url = local.url;
    teardown = async () => {
      await gw.endAsync(true);
      await local.dispose();
    };
  }
  const sink = mqtt.connect(upstreamUrl, { clientId: `sink-${kind}-${qos}` });
  let relayed = 0;
  sink.on('message', (topic) => topic.endsWith('/state') && !topic.includes('/gateway/') && relayed++);
  await new Promise((r) => sink.once('connect', r));
  await sink.subscribeAsync('fillgate/ST1/dev/+/state', { qos: 1 });
  await new Promise<void>((r) => (relay.status().connected ? r() : relay.connection.once(() => r())));

  const clients = await Promise.all(
    ids.map(async (id) => {
      const c = mqtt.connect(url, kind === 'aedes' ? { username: id, password: passwords[id], clientId: `${id}:b` } : { clientId: `b-${id}` });
      await new Promise((r) => c.once('connect', r));
      return c;
    }),
  );
  const started = performance.now();
  const deadline = Date.now() + TIMEOUT_MS;
  let ingestAt = 0;
  const ingested = until(() => outbox.committedRows >= total, deadline).then(() => (ingestAt = performance.now()));
  await publishAll(clients, total / DEVICES, qos, ids);
  await ingested;
  await until(() => relayed >= total, deadline);
  const relayedAt = performance.now();
  const run: Run = {
    broker: kind,
    qos,
    ingestPerSec: outbox.committedRows / ((ingestAt - started) / 1000),
    relayedPerSec: relayed / ((relayedAt - started) / 1000),
    committed: outbox.committedRows,
    relayed,
  };
  if (run.committed < total || relayed < total) console.log(`  warning: ${kind} QoS ${qos}: ${run.committed}/${total} committed, ${relayed}/${total} relayed`);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await sink.endAsync(true);
  await relay.stop();
  await teardown();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface MqttBench {
  messages: number;
  devices: number;
  reps: number;
  load: number[];
  runs: Run[];
  /** Medians per QoS, with aedes/mosquitto ratios (goal: ingest ratio >= 1 at both QoS). */
  summary: { qos: 0 | 1; aedesIngest: number; mosquittoIngest: number; ingestRatio: number; aedesRelayed: number; mosquittoRelayed: number; relayedRatio: number }[];
}

export async function runMqttBench(total = 8000, reps = 3): Promise<MqttBench | { skipped: string }> {
  if (!hasBinary('mosquitto')) {
    console.log('mqtt bench skipped: mosquitto not installed (apt-get install mosquitto)');
    return { skipped: 'mosquitto not installed' };
  }
  const load = loadavg().map((x) => Number(x.toFixed(2)));
  const upstream = new Mosquitto(await freePort(), false);
  await upstream.start();
  const runs: Run[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      for (const qos of [0, 1] as const) {
        // Alternate who goes first, so a drift in the machine's load does not favour one side.
        const order: Kind[] = i % 2 === 0 ? ['aedes', 'mosquitto'] : ['mosquitto', 'aedes'];
        for (const kind of order) runs.push(await runOnce(kind, qos, total, upstream.url));
      }
    }
  } finally {
    await upstream.dispose();
  }
  const summary = ([0, 1] as const).map((qos) => {
    const pick = (kind: Kind, f: (r: Run) => number) => median(runs.filter((r) => r.broker === kind && r.qos === qos).map(f));
    const aedesIngest = pick('aedes', (r) => r.ingestPerSec);
    const mosquittoIngest = pick('mosquitto', (r) => r.ingestPerSec);
    const aedesRelayed = pick('aedes', (r) => r.relayedPerSec);
    const mosquittoRelayed = pick('mosquitto', (r) => r.relayedPerSec);
    const r2 = (x: number) => Number(x.toFixed(2));
    return {
      qos,
      aedesIngest: Math.round(aedesIngest),
      mosquittoIngest: Math.round(mosquittoIngest),
      ingestRatio: r2(aedesIngest / mosquittoIngest),
      aedesRelayed: Math.round(aedesRelayed),
      mosquittoRelayed: Math.round(mosquittoRelayed),
      relayedRatio: r2(aedesRelayed / mosquittoRelayed),
    };
  });
  console.log(`\nMQTT: ${total} messages from ${DEVICES} devices → station broker → gateway outbox (SQLite file, group commit) → upstream mosquitto`);
  console.log(`medians of ${reps} alternating runs, msg/s; load average before: ${load.join(' ')}`);
  console.log('QoS  ingest aedes  ingest mosquitto  ratio   relayed aedes  relayed mosquitto  ratio   (goal: ingest ratio >= 1)');
  for (const s of summary) {
    console.log(
      `${s.qos}    ${String(s.aedesIngest).padStart(12)}  ${String(s.mosquittoIngest).padStart(16)}  ${s.ingestRatio.toFixed(2).padStart(5)}   ${String(s.aedesRelayed).padStart(13)}  ${String(s.mosquittoRelayed).padStart(17)}  ${s.relayedRatio.toFixed(2).padStart(5)}`,
    );
  }
  return { messages: total, devices: DEVICES, reps, load, runs, summary };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runMqttBench(Number(process.argv[2] ?? 8000), Number(process.argv[3] ?? 3));
}
