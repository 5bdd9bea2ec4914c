/**
 * Issue 14 point 5: with the outbox's group commit, a device's QoS 1 message is acknowledged
 * (PUBACK) only after its outbox row is committed. Real broker, real mqtt.js device over TCP,
 * real SQLite file read back through a second connection; the test holds the group commit
 * (the outbox's injected flush schedule) and watches for the PUBACK on the wire.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { startStationBroker, type StationBrokerPort } from '../../gateway/mqtt/broker.ts';
import { startBrokerWorker } from '../../gateway/mqtt/broker-thread.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { wireStationMqtt } from '../../gateway/mqtt/wiring.ts';
import type { DeviceMessage } from '../../gateway/mqtt/topics.ts';
import { systemClock } from '../../protocols/clock.ts';
import { brokerConfig, deviceConfigs, eventually } from './mqtt-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'fillgate-puback-'));
const { devices, passwords } = deviceConfigs([['ld1', 'leak-detector', 'P1']]);
const state = (lel: number) => JSON.stringify({ lel, level: 0, fault: false });

interface Rig {
  broker: StationBrokerPort;
  db: Database.Database;
  reader: Database.Database;
  device: MqttClient;
  seen: DeviceMessage[];
  /** Group commits waiting for the test's go. */
  held: (() => void)[];
  /** Wire log of the device's socket: PUBACKs received, in order. */
  pubacks: number[];
  onDisk(): number;
  close(): Promise<void>;
}

async function rig(name: string, thread: 'main' | 'worker'): Promise<Rig> {
  const file = join(dir, `${name}.db`);
  const db = new Database(file);
  const held: (() => void)[] = [];
  const outbox = new Outbox(db, { telemetryCap: 100, clock: systemClock, schedule: (flush) => held.push(flush) });
  // Not started: no upstream here; rows stay in the outbox, which is what this test reads.
  const relay = new UpstreamRelay(
    { station: 'ST1', upstream: { url: 'mqtt://127.0.0.1:1', protocolVersion: 4, keepaliveSec: 30, reconnectMs: 1000, window: 10, rejectUnauthorized: true } },
    { outbox },
  );
  const broker = thread === 'main' ? await startStationBroker({ station: 'ST1', broker: brokerConfig(devices) }) : await startBrokerWorker({ station: 'ST1', broker: brokerConfig(devices) });
  const seen: DeviceMessage[] = [];
  broker.messages.on((m) => seen.push(m));
  const unwire = wireStationMqtt({ broker, relay });
  const device = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.tcp}`, { username: 'ld1', password: passwords.ld1, clientId: 'ld1:t', reconnectPeriod: 0 });
  device.on('error', () => undefined);
  const pubacks: number[] = [];
  device.on('packetreceive', (p) => p.cmd === 'puback' && pubacks.push(p.messageId!));
  await eventually(() => device.connected, 10_000, 'device connect');
  const reader = new Database(file, { readonly: true });
  return {
    broker,
    db,
    reader,
    device,
    seen,
    held,
    pubacks,
    onDisk: () => (reader.prepare('SELECT COUNT(*) AS n FROM mqtt_outbox').get() as { n: number }).n,
    async close() {
      await device.endAsync(true);
      unwire();
      await broker.close();
      reader.close();
      db.close();
    },
  };
}

// Both places the broker can run (mqtt.broker.thread): on this thread, and in its worker (broker-thread.ts).
for (const thread of ['main', 'worker'] as const) {
  test(`[${thread}] a QoS 1 device message is not acknowledged before its outbox row is committed`, async () => {
    const r = await rig(`held-${thread}`, thread);
    try {
      let acked = false;
      const sent = r.device.publishAsync('fillgate/ST1/dev/ld1/state', state(3), { qos: 1 }).then(() => (acked = true));
      await eventually(() => r.seen.length === 1 && r.held.length === 1, 10_000, 'message taken, commit pending');
      // Held well past a loopback round trip (< 1 ms): the PUBACK must not come while the row is not on disk.
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(r.pubacks, [], 'no PUBACK on the wire before the commit');
      assert.not.ok(acked);
      assert.is(r.onDisk(), 0);
      r.held.shift()!();
      assert.is(r.onDisk(), 1, 'committed');
      await sent;
      assert.is(r.pubacks.length, 1);
    } finally {
      // Release whatever is still held, so a failed assertion cannot leave the broker running.
      r.held.splice(0).forEach((f) => f());
      await r.close();
    }
  });

  test(`[${thread}] messages of one turn share one commit and are all acknowledged after it; QoS 0 is never held`, async () => {
    const r = await rig(`burst-${thread}`, thread);
    try {
      const sent = Array.from({ length: 20 }, (_, i) => r.device.publishAsync('fillgate/ST1/dev/ld1/state', state(i), { qos: 1 }));
      await eventually(() => r.seen.length === 20, 10_000, 'all taken');
      await new Promise((res) => setTimeout(res, 100));
      assert.is(r.pubacks.length, 0);
      // mqtt.js writes them in one go, so they arrive in one or a few socket reads: a handful of commits, not 20.
      assert.ok(r.held.length >= 1 && r.held.length < 20, `${r.held.length} group commits for 20 messages`);
      while (r.held.length) r.held.shift()!();
      await Promise.all(sent);
      assert.is(r.pubacks.length, 20);
      assert.is(r.onDisk(), 20);
      // QoS 0: nothing to acknowledge, so nothing waits for the held commit.
      await r.device.publishAsync('fillgate/ST1/dev/ld1/state', state(1), { qos: 0 });
      await eventually(() => r.seen.length === 21, 10_000, 'QoS 0 taken');
      assert.is(r.held.length, 1);
      r.held.shift()!();
    } finally {
      // Release whatever is still held, so a failed assertion cannot leave the broker running.
      r.held.splice(0).forEach((f) => f());
      await r.close();
    }
  });

  test(`[${thread}] a commit that fails is never acknowledged: the device is disconnected and will send again`, async () => {
    const r = await rig(`failed-${thread}`, thread);
    try {
      let acked = false;
      void r.device.publishAsync('fillgate/ST1/dev/ld1/state', state(5), { qos: 1 }).then(() => (acked = true), () => undefined);
      await eventually(() => r.held.length === 1, 10_000, 'commit pending');
      r.db.exec('DROP TABLE mqtt_outbox');
      r.held.shift()!();
      await eventually(() => !r.device.connected, 10_000, 'device disconnected');
      assert.equal(r.pubacks, []);
      assert.not.ok(acked);
    } finally {
      // Release whatever is still held, so a failed assertion cannot leave the broker running.
      r.held.splice(0).forEach((f) => f());
      await r.close();
    }
  });

  test.after(() => rmSync(dir, { recursive: true, force: true }));
}
test.run();
