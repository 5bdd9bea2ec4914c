/**
 * Issue 12 points 14 and 15: a client id belongs to its device, and the penalty box is keyed
 * on where refusals come from, so nobody without a device's password can knock it off the
 * broker or lock it out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { startStationBroker, type StationBroker } from '../../gateway/mqtt/broker.ts';
import { missing, skipIf } from '../fixtures/needs.ts';
import { brokerConfig, deviceConfigs, eventually } from './mqtt-support.ts';

const { devices, passwords } = deviceConfigs([
  ['av1', 'angle-valve'],
  ['ld1', 'leak-detector', 'P1'],
  ['ld2', 'leak-detector', 'P2'],
]);
let broker: StationBroker;
const clients: MqttClient[] = [];

/** One CONNECT attempt, no reconnect: resolves 'connected' or the CONNACK refusal code. */
function attempt(opts: mqtt.IClientOptions): Promise<{ client: MqttClient; result: 'connected' | number }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.tcp}`, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  clients.push(client);
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ client, result: 'connected' }));
    client.once('error', (e) => resolve({ client, result: (e as { code?: number }).code ?? -1 }));
  });
}

test.before(async () => {
  // The production defaults: 3 refusals in a minute, 5 s doubling up to 10 min.
  broker = await startStationBroker({
    station: 'ST1',
    broker: brokerConfig(devices, { penalty: { maxRejections: 3, windowMs: 60_000, baseMs: 5_000, maxMs: 600_000 } }),
  });
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker.close();
});

test("a valid device cannot take another device's client id: refused with CONNACK 2, counted, the owner stays connected", async () => {
  const owner = await attempt({ username: 'ld1', password: passwords.ld1, clientId: 'ld1' });
  assert.is(owner.result, 'connected');
  let ownerClosed = false;
  owner.client.on('close', () => (ownerClosed = true));
  const thief = await attempt({ username: 'av1', password: passwords.av1, clientId: 'ld1' });
  assert.is(thief.result, 2, 'identifier rejected');
  assert.is(broker.counters.clientIdRefused, 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.not.ok(ownerClosed, 'the real ld1 was not knocked off');
  assert.ok(owner.client.connected);
  // Its own id, and ids derived from it (<device>:<suffix>), are fine.
  for (const clientId of ['av1', 'av1:panel']) {
    const own = await attempt({ username: 'av1', password: passwords.av1, clientId });
    assert.is(own.result, 'connected', clientId);
    await own.client.endAsync(true);
  }
  // A prefix that is not followed by the separator is not derived from it.
  const lookalike = await attempt({ username: 'av1', password: passwords.av1, clientId: 'av1x' });
  assert.is(lookalike.result, 2);
  // Without the password the answer is 4 whatever the client id: it tells nothing about the name.
  const stranger = await attempt({ username: 'av1', password: 'guess', clientId: 'elsewhere' });
  assert.is(stranger.result, 4);
  await owner.client.endAsync(true);
});

skipIf(test, missing('mosquitto_pub'))(
  'an attacker with wrong passwords as the leak detector (mosquitto_pub) cannot lock it out: the real device connects at once',
  async () => {
    const port = String(broker.ports.tcp);
    const codes: (number | null)[] = [];
    for (let i = 0; i < 5; i++) {
      const pub = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'ld2', '-P', 'guess', '-i', 'ld2', '-t', 'fillgate/ST1/dev/ld2/state', '-m', '{}']);
      codes.push(await new Promise<number | null>((r) => pub.on('exit', r)));
    }
    assert.ok(codes.every((c) => c !== 0), `attacker refused every time: ${codes.join(',')}`);
    // The real detector, with the right password, gets in on its first attempt ...
    const started = Date.now();
    const real = await attempt({ username: 'ld2', password: passwords.ld2, clientId: 'ld2' });
    assert.is(real.result, 'connected');
    assert.ok(Date.now() - started < 2000, `connected in ${Date.now() - started} ms`);
    assert.ok(broker.connectedDevices().includes('ld2'));
    // ... while the attacker's source is in the penalty box ...
    assert.ok(broker.penalty.list().some((e) => e.identity.includes('127.0.0.1') && e.bannedForMs > 0), JSON.stringify(broker.penalty.list()));
    // ... and the attacker is still refused afterwards.
    const again = await attempt({ username: 'ld2', password: 'guess', clientId: 'ld2:x' });
    assert.ok(again.result !== 'connected');
    assert.ok(real.client.connected, 'the real device kept its connection');
  },
);

test('wrong passwords under many names from one address put that address in the penalty box', async () => {
  const before = broker.counters.authFailures;
  for (const name of ['nobody1', 'nobody2', 'nobody3', 'nobody4']) {
    const r = await attempt({ username: name, password: 'x', clientId: name });
    assert.ok(r.result !== 'connected');
  }
  assert.ok(broker.counters.authFailures - before >= 3);
  assert.ok(broker.penalty.list().some((e) => e.identity.includes('127.0.0.1') && !e.identity.includes('@') && e.bannedForMs > 0), JSON.stringify(broker.penalty.list()));
});

test.run();
