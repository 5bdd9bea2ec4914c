/**
 * The devices and the upstream subscriber of the MQTT bench (test/bench/mqtt.ts), in their own
 * process: at a station they are other machines, so their mqtt.js work must not run on the
 * gateway's event loop and be counted against the broker. Driven over IPC:
 *   parent → { devices: [{ id, username?, password?, clientId }], url, upstreamUrl, qos, total, window }
 *   child  → 'ready' once every device and the subscriber are connected
 *   parent → 'go'; child → { published: true } when every publish is done (QoS 1: acknowledged),
 *   child  → { relayed: n } when the subscriber has all messages (or after timeoutMs).
 */
import mqtt, { type MqttClient } from 'mqtt';

interface Setup {
  devices: { id: string; username?: string; password?: string; clientId: string }[];
  url: string;
  upstreamUrl: string;
  qos: 0 | 1;
  total: number;
  window: number;
  timeoutMs: number;
}

const send = (m: unknown) => process.send!(m);
const setup = await new Promise<Setup>((r) => process.once('message', (m) => r(m as Setup)));
const connected = (c: MqttClient) => new Promise((r) => c.once('connect', r));

const sink = mqtt.connect(setup.upstreamUrl, { clientId: `sink-${process.pid}` });
let relayed = 0;
let reported = false;
const report = () => {
  if (reported) return;
  reported = true;
  send({ relayed });
};
sink.on('message', (topic) => {
  if (topic.includes('/dev/') && ++relayed >= setup.total) report();
});
await connected(sink);
await sink.subscribeAsync('fillgate/ST1/dev/+/state', { qos: 1 });

const clients = await Promise.all(
  setup.devices.map(async (d) => {
    const c = mqtt.connect(setup.url, { username: d.username, password: d.password, clientId: d.clientId });
    await connected(c);
    return c;
  }),
);
send('ready');
await new Promise((r) => process.once('message', r));
setTimeout(report, setup.timeoutMs).unref();

/** Each device publishes its share with at most `window` unacknowledged (QoS 1), or in bursts of `window` (QoS 0). */
const perDevice = setup.total / clients.length;
await Promise.all(
  clients.map(async (c, i) => {
    const topic = `fillgate/ST1/dev/${setup.devices[i].id}/state`;
    for (let k = 0; k < perDevice; k += setup.window) {
      const batch: Promise<unknown>[] = [];
      for (let j = k; j < Math.min(perDevice, k + setup.window); j++) {
        batch.push(c.publishAsync(topic, JSON.stringify({ lel: j % 20, level: 0, fault: false, ts: j }), { qos: setup.qos }));
      }
      await Promise.all(batch);
      if (setup.qos === 0) await new Promise((r) => setImmediate(r));
    }
  }),
);
send({ published: true });
// Stay until the parent has what it needs, then go.
process.once('message', async () => {
  await Promise.all([...clients, sink].map((c) => c.endAsync(true)));
  process.exit(0);
});
