/**
 * Benchmark (issue 4 point 7): messages per second from simulated devices through the
 * embedded broker and the relay's outbox to an upstream mosquitto, QoS 0 and QoS 1 on the
 * device leg (upstream is always QoS 1 through the outbox), side by side with mosquitto in
 * the embedded broker's place on the same run, printed as a ratio.
 * Run: `node --import tsx test/bench/mqtt.ts [messages]` (or through `npm run bench`).
 */
import mqtt, { type MqttClient } from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { startStationBroker } from '../../gateway/mqtt/broker.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { TopicMap } from '../../gateway/mqtt/topics.ts';
import { systemClock } from '../../protocols/clock.ts';
import { brokerConfig, deviceConfigs, freePort, hasBinary, Mosquitto } from '../gateway/mqtt-support.ts';

const DEVICES = 4;
const WINDOW = 100;

interface Row {
  broker: string;
  qos: 0 | 1;
  msgPerSec: number;
}

/** Each device publishes its share with at most WINDOW unacknowledged (QoS 1) or per-tick batches (QoS 0). */
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

async function runOnce(kind: 'aedes' | 'mosquitto', qos: 0 | 1, total: number, upstreamUrl: string): Promise<Row> {
  const ids = Array.from({ length: DEVICES }, (_, i) => `ld${i}`);
  const { devices, passwords } = deviceConfigs(ids.map((id) => [id, 'leak-detector'] as [string, 'leak-detector']));
  const db = new Database(':memory:');
  const relay = new UpstreamRelay(
    { station: 'ST1', upstream: { url: upstreamUrl, protocolVersion: 4, keepaliveSec: 30, reconnectMs: 500, window: WINDOW, rejectUnauthorized: true } },
    { outbox: new Outbox(db, { telemetryCap: total * 2, clock: systemClock }) },
  );
  relay.start();
  const forward = (device: string, data: unknown) =>
    relay.send({ topic: `fillgate/ST1/dev/${device}/state`, payload: JSON.stringify(data), class: 'telemetry' });

  let url: string;
  let teardown: () => Promise<void>;
  if (kind === 'aedes') {
    const broker = await startStationBroker({ station: 'ST1', broker: brokerConfig(devices) });
    broker.messages.on((m) => forward(m.device, m.data));
    url = `mqtt://127.0.0.1:${broker.ports.tcp}`;
    teardown = () => broker.close();
  } else {
    // mosquitto in the embedded broker's place: the gateway is its client and validates the same way.
    const local = new Mosquitto(await freePort(), false);
    await local.start();
    const topics = new TopicMap('ST1');
    const gw = mqtt.connect(local.url, { clientId: 'gw-local' });
    gw.on('message', (topic, payload) => {
      const p = topics.parseDeviceTopic(topic);
      if (!p) return;
      const v = topics.validateInbound('leak-detector', p.device, p.channel, payload);
      if (v.ok) forward(p.device, v.message.data);
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
  let received = 0;
  let done!: () => void;
  const allIn = new Promise<void>((r) => (done = r));
  sink.on('message', () => ++received === total && done());
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
  await publishAll(clients, total / DEVICES, qos, ids);
  const timeout = new Promise<void>((r) => setTimeout(r, 120_000));
  await Promise.race([allIn, timeout]);
  const seconds = (performance.now() - started) / 1000;
  const row: Row = { broker: kind, qos, msgPerSec: received / seconds };
  if (received < total && qos === 1) console.log(`  warning: ${kind} QoS1 delivered ${received}/${total} upstream`);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await sink.endAsync(true);
  await relay.stop();
  await teardown();
  db.close();
  return row;
}

export async function runMqttBench(total = 20_000): Promise<Row[]> {
  if (!hasBinary('mosquitto')) {
    console.log('mqtt bench skipped: mosquitto not installed (apt-get install mosquitto)');
    return [];
  }
  const upstream = new Mosquitto(await freePort(), false);
  await upstream.start();
  const rows: Row[] = [];
  try {
    for (const qos of [0, 1] as const) {
      for (const kind of ['aedes', 'mosquitto'] as const) rows.push(await runOnce(kind, qos, total, upstream.url));
    }
  } finally {
    await upstream.dispose();
  }
  console.log(`\nMQTT: ${total} messages from ${DEVICES} devices → local broker → gateway outbox → upstream mosquitto (msg/s)`);
  console.log('QoS  embedded aedes  mosquitto instead  ratio aedes/mosquitto');
  for (const qos of [0, 1] as const) {
    const a = rows.find((r) => r.broker === 'aedes' && r.qos === qos)!;
    const m = rows.find((r) => r.broker === 'mosquitto' && r.qos === qos)!;
    console.log(`${qos}    ${a.msgPerSec.toFixed(0).padStart(14)}  ${m.msgPerSec.toFixed(0).padStart(17)}  ${(a.msgPerSec / m.msgPerSec).toFixed(2).padStart(21)}`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runMqttBench(Number(process.argv[2] ?? 20_000));
}
