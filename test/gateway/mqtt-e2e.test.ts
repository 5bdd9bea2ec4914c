/**
 * End to end (issue 4 points 3, 5, 6): simulated MQTT devices from a station-file section →
 * embedded aedes broker → leak service / angle-valve monitor → cut-off commands back to the
 * devices, and alarms, events and telemetry through the outbox to a mosquitto upstream.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, skipIf } from '../fixtures/needs.ts';
import mqtt from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { startStationBroker, type StationBroker } from '../../gateway/mqtt/broker.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { wireStationMqtt, mqttCutoffActuator } from '../../gateway/mqtt/wiring.ts';
import { LeakService } from '../../gateway/leak/service.ts';
import { AngleValveMonitor } from '../../gateway/leak/angle-valve.ts';
import { systemClock } from '../../protocols/clock.ts';
import { startSimMqttDevices, type SimMqttFleet, type SimCutoffValve } from '../../sim/mqtt/index.ts';
import { brokerConfig, deviceConfigs, eventually, freePort, hasBinary, Mosquitto } from './mqtt-support.ts';

const haveMosquitto = hasBinary('mosquitto');
const { devices, passwords } = deviceConfigs([
  ['ld-P1', 'leak-detector', 'P1'],
  ['ld-P2', 'leak-detector', 'P2'],
  ['V1001', 'angle-valve'],
  ['V1002', 'angle-valve'],
  ['cv-main', 'cutoff-valve', 'yard'],
  ['cv-dead', 'cutoff-valve', 'yard'],
]);
let broker: StationBroker;
let fleet: SimMqttFleet;
let leak: LeakService;
let valves: AngleValveMonitor;
let relay: UpstreamRelay | undefined;
let upstream: Mosquitto | undefined;
let audit: mqtt.MqttClient | undefined;
let db: Database.Database;
let unwire: () => void;
const quarantined: [string, string][] = [];
const upstreamSeen: { topic: string; body: any }[] = [];

test.before(async () => {
  broker = await startStationBroker({ station: 'ST1', broker: brokerConfig(devices) });
  leak = new LeakService({
    clock: systemClock,
    settings: { detectors: ['ld-P1', 'ld-P2'], cutoffs: ['cv-main', 'cv-dead'], silentAfterMs: 1500, cutoffAckTimeoutMs: 300, cutoffRetries: 2 },
    actuators: { 'cv-main': mqttCutoffActuator(broker, 'cv-main'), 'cv-dead': mqttCutoffActuator(broker, 'cv-dead') },
    locations: Object.fromEntries(devices.map((d) => [d.id, d.location ?? ''])),
    tickMs: 100,
  });
  valves = new AngleValveMonitor({ clock: systemClock, registry: { quarantine: (code, reason) => quarantined.push([code, reason]) } });
  db = new Database(':memory:');
  if (haveMosquitto) {
    upstream = new Mosquitto(await freePort());
    await upstream.start();
    audit = mqtt.connect(upstream.url, { clientId: 'audit-e2e', reconnectPeriod: 200 });
    audit.on('message', (topic, p) => upstreamSeen.push({ topic, body: JSON.parse(p.toString()) }));
    await eventually(() => !!audit?.connected, 10_000, 'audit');
    await audit.subscribeAsync('fillgate/ST1/#', { qos: 1 });
    relay = new UpstreamRelay(
      { station: 'ST1', upstream: { url: upstream.url, protocolVersion: 5, keepaliveSec: 10, reconnectMs: 200, window: 50, rejectUnauthorized: true } },
      { outbox: new Outbox(db, { telemetryCap: 1000, clock: systemClock }) },
    );
    relay.start();
  }
  unwire = wireStationMqtt({ broker, relay, leak, valves });
  leak.start();
  // The station file's mqttDevices section, as the simulator reads it.
  fleet = await startSimMqttDevices(
    {
      station: 'ST1',
      devices: [
        { kind: 'leak-detector', id: 'ld-P1', password: passwords['ld-P1'], stateEveryMs: 300 },
        { kind: 'leak-detector', id: 'ld-P2', password: passwords['ld-P2'], stateEveryMs: 300 },
        { kind: 'angle-valve', id: 'V1001', password: passwords.V1001, boundCode: 'CYL-1001', stateEveryMs: 0 },
        { kind: 'angle-valve', id: 'V1002', password: passwords.V1002, boundCode: 'CYL-OTHER', stateEveryMs: 0 },
        { kind: 'cutoff-valve', id: 'cv-main', password: passwords['cv-main'], ackDelayMs: 100, stateEveryMs: 0 },
        { kind: 'cutoff-valve', id: 'cv-dead', password: passwords['cv-dead'], deaf: true, stateEveryMs: 0 },
      ],
    },
    `mqtt://127.0.0.1:${broker.ports.tcp}`,
  );
});

test.after(async () => {
  leak.stop();
  unwire();
  await fleet.stop();
  await relay?.stop();
  await audit?.endAsync(true);
  await broker.close();
  await upstream?.dispose();
  db.close();
});

test('angle valves: a valve bound to another cylinder refuses the fill; a tamper quarantines the bound cylinder', async () => {
  await eventually(() => !!valves.state('V1002') && !!valves.state('V1001'), 10_000, 'valve states');
  const r = valves.check('V1002', 'CYL-1002');
  assert.is(r.ok, false);
  assert.ok(valves.check('V1001', 'CYL-1001').ok);
  fleet.act({ atMs: 0, device: 'V1001', action: 'tamper' });
  await eventually(() => quarantined.length > 0, 10_000, 'quarantine');
  assert.equal(quarantined[0], ['CYL-1001', 'tamper']);
  fleet.act({ atMs: 0, device: 'V1002', action: 'bind', code: 'CYL-1002' });
  await eventually(() => valves.check('V1002', 'CYL-1002').ok, 10_000, 'rebound valve');
});

test('leak at one post: level 1 locks without closing; level 2 closes the cut-off, acked; a deaf valve raises no-ack', async () => {
  assert.not.ok(leak.locked);
  const cv = fleet.get<SimCutoffValve>('cv-main');
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 30 });
  await eventually(() => leak.locked, 10_000, 'lock on level 1');
  assert.is(cv.closeCommands, 0);
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 60 });
  await eventually(() => leak.interlock.state.cutoffs['cv-main'].phase === 'closed', 10_000, 'cut-off acked');
  assert.is(cv.position, 'closed');
  await eventually(() => leak.interlock.state.cutoffs['cv-dead'].noAckAlarm, 10_000, 'no-ack alarm');
  // Reset refused while the gas is still there.
  assert.is(leak.reset('SUP-7').ok, false);
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 0 });
  await eventually(() => leak.interlock.state.detectors['ld-P1'].level === 0, 10_000, 'gas gone');
  // The deaf valve still has not answered; the detectors are clear, so a supervisor may reset.
  const r = leak.reset('SUP-7');
  assert.equal(r, { ok: true, reasons: [] });
  assert.not.ok(leak.locked);
  assert.equal(leak.interlock.state.lastReset?.badge, 'SUP-7');
});

test('a detector falling silent locks the station; its return clears the alarm but the lock waits for a reset', async () => {
  fleet.act({ atMs: 0, device: 'ld-P2', action: 'silent' });
  await eventually(() => leak.locked, 10_000, 'silence lock');
  assert.ok(leak.interlock.state.detectors['ld-P2'].silent);
  fleet.act({ atMs: 0, device: 'ld-P2', action: 'resume' });
  await eventually(() => !leak.interlock.state.detectors['ld-P2'].silent, 10_000, 'detector back');
  assert.ok(leak.locked);
  await eventually(() => leak.reset('SUP-7').ok, 10_000, 'reset after return');
});

skipIf(test, missing('mosquitto'))('upstream (mosquitto) received the alarms, the tamper event, the reset record and telemetry', async () => {
  const alarmKinds = () => new Set(upstreamSeen.filter((m) => m.topic === 'fillgate/ST1/alarm').map((m) => `${m.body.kind}:${m.body.active}`));
  await eventually(() => ['leak:true', 'leak:false', 'cutoff_closed:true', 'cutoff_no_ack:true', 'detector_silent:true'].every((k) => alarmKinds().has(k)), 15_000, `alarms upstream ${[...alarmKinds()]}`);
  await eventually(() => upstreamSeen.some((m) => m.topic === 'fillgate/ST1/dev/V1001/event' && m.body.kind === 'tamper'), 10_000, 'tamper event');
  await eventually(() => upstreamSeen.some((m) => m.topic === 'fillgate/ST1/leak/reset' && m.body.badge === 'SUP-7'), 10_000, 'reset record');
  await eventually(() => upstreamSeen.some((m) => m.topic === 'fillgate/ST1/dev/ld-P1/state'), 10_000, 'telemetry');
  const leakAlarm = upstreamSeen.find((m) => m.topic === 'fillgate/ST1/alarm' && m.body.kind === 'leak')!;
  assert.is(leakAlarm.body.location, 'P1');
  assert.ok(upstreamSeen.some((m) => m.topic === 'fillgate/ST1/gateway/state' && m.body.state === 'online'));
});

test.run();
