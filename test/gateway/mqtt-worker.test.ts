/**
 * Issue 14 point 5: the embedded broker in its worker thread (gateway/mqtt/broker-thread.ts).
 * A crash of the worker is fail-safe: the leak detector's messages stop, so the interlock raises
 * `detector_silent` and locks the station, as when the broker is lost; the worker is started
 * again on the same port, the device reconnects, its messages flow again and the retained
 * gateway state is back. Real worker, real aedes, real mqtt.js device over TCP.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { startBrokerWorker } from '../../gateway/mqtt/broker-thread.ts';
import { wireStationMqtt } from '../../gateway/mqtt/wiring.ts';
import { LeakService } from '../../gateway/leak/service.ts';
import type { Alarm } from '../../gateway/mqtt/topics.ts';
import type { DeviceMessage } from '../../gateway/mqtt/topics.ts';
import { systemClock } from '../../protocols/clock.ts';
import { brokerConfig, deviceConfigs, eventually, freePort } from './mqtt-support.ts';

const { devices, passwords } = deviceConfigs([['ld1', 'leak-detector', 'P1']]);

test('a crashed broker worker leaves the leak detector silent (station locked), then comes back on its port', async () => {
  // A fixed port, as at a station (1883): the device reconnects to it after the restart.
  const port = await freePort();
  const broker = await startBrokerWorker({ station: 'ST1', broker: brokerConfig(devices, { port }) }, { restartMs: { base: 1_500, max: 3_000 } });
  const leak = new LeakService({
    clock: systemClock,
    settings: { detectors: ['ld1'], cutoffs: [], silentAfterMs: 1_000, cutoffAckTimeoutMs: 5_000, cutoffRetries: 3 },
    actuators: {},
    tickMs: 100,
  });
  const alarms: Alarm[] = [];
  leak.alarms.on((a) => alarms.push(a));
  const seen: DeviceMessage[] = [];
  broker.messages.on((m) => seen.push(m));
  const unwire = wireStationMqtt({ broker, leak });
  leak.start();
  await broker.setGatewayState({ state: 'online', station: 'ST1' });
  const device = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: 'ld1', password: passwords.ld1, clientId: 'ld1', reconnectPeriod: 200 });
  device.on('error', () => undefined);
  const states: string[] = [];
  device.on('message', (_t, payload) => states.push(JSON.parse(payload.toString()).state));
  device.on('connect', () => void device.subscribeAsync('fillgate/ST1/gateway/state', { qos: 1 }).catch(() => undefined));
  const beat = setInterval(() => device.connected && device.publish('fillgate/ST1/dev/ld1/state', JSON.stringify({ lel: 0, level: 0, fault: false }), { qos: 1 }), 200);
  try {
    await eventually(() => seen.length >= 3 && !leak.locked, 10_000, 'detector reporting, station clear');
    assert.equal(broker.connectedDevices(), ['ld1']);
    await eventually(() => states.includes('online'), 5_000, 'retained gateway state');

    await broker.crash();
    const crashedAt = seen.length;
    // Nothing arrives while the worker is gone: the detector goes silent and the station locks.
    await eventually(() => leak.locked, 5_000, 'station locked after the crash');
    assert.ok(alarms.some((a) => a.kind === 'detector_silent' && a.active && a.device === 'ld1'), 'detector_silent raised');
    assert.equal(broker.connectedDevices(), []);
    assert.is(seen.length, crashedAt, 'no message while the worker is down');

    // Restarted on the same port: the device is back, its messages flow, the retained state is republished.
    states.length = 0;
    await eventually(() => broker.restarts === 1, 10_000, 'worker restarted');
    await eventually(() => seen.length > crashedAt + 2, 10_000, 'messages again after the restart');
    assert.equal(broker.connectedDevices(), ['ld1']);
    await eventually(() => states.includes('online'), 5_000, 'retained gateway state after the restart');
    assert.ok(alarms.some((a) => a.kind === 'detector_silent' && !a.active), 'the detector is heard again');
  } finally {
    clearInterval(beat);
    await device.endAsync(true);
    unwire();
    leak.stop();
    await broker.close();
  }
});

test.run();
