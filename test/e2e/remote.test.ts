/**
 * Remote commands end to end (issue 10 points 6 and 9) over a real upstream broker
 * (mosquitto on a loopback port) with the real station against the simulator and a real
 * receiver: a signed lock refuses the next fill with STATION_LOCKED_REMOTE and survives a
 * restart; the same command sent again is refused as REPLAYED and recorded; an unsigned
 * one is refused; unlock; a remote quarantine refuses the cylinder at a post, release lets
 * it through again; then the signed events reach the receiver, which verifies them, with
 * no gaps, and the station's own event chain verifies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { missing, skipIf } from '../fixtures/needs.ts';
import { startRig, type Rig } from './rig.ts';
import { freePort, Mosquitto } from '../gateway/mqtt-support.ts';
import { mqttSchema } from '../../gateway/mqtt/config.ts';
import { uploadConfigSchema } from '../../gateway/records/config.ts';
import { keysInit } from '../../gateway/records/keys.ts';
import { remoteConfigSchema, signCommand, type RemoteCommandName } from '../../gateway/remote/command.ts';
import { startReceiver, type RunningReceiver } from '../../gateway/receiver/server.ts';
import { verifyEvents } from '../../gateway/records/events-verify.ts';
import type { StationEventV1 } from '../../gateway/records/event.ts';
import { stationStatus } from '../../gateway/http/status.ts';

const it = skipIf(test, missing('mosquitto'));
const reg = generateKeyPairSync('ed25519');
let rig: Rig;
let upstream: Mosquitto;
let rx: RunningReceiver;
let client: MqttClient;
let station = '';
const replies = new Map<string, { transaction: string; status: string; data?: Record<string, unknown>; error?: string }>();
let seq = 0;

test.before(async () => {
  if (missing('mosquitto')) return;
  upstream = new Mosquitto(await freePort(), false);
  await upstream.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'fg-remote-'));
  const keys = keysInit(dataDir);
  rx = await startReceiver({ dbPath: ':memory:', verifyThreads: 0 });
  const brokerPort = await freePort();
  rig = await startRig({
    dataDir,
    tweak: (cfg) => {
      station = cfg.station.code;
      void rx.store.registerStation(station, keys.publicKeyPem); // SQLite: written at once; the receiver reloads keys for an unknown station
      cfg.fill.autoStart = true;
      cfg.eligibility.minRefillIntervalMs = 0;
      cfg.mqtt = mqttSchema.parse({ broker: { host: '127.0.0.1', port: brokerPort, devices: [] }, upstream: { url: upstream.url, reconnectMs: 200 } });
      cfg.upload = uploadConfigSchema.parse({ url: `${rx.url}/v1/records`, idleMs: 200, backoff: { initialMs: 100, maxMs: 500 } });
      cfg.remote = remoteConfigSchema.parse({ trustedKeys: [{ id: 'reg1', publicKeyPem: reg.publicKey.export({ type: 'spki', format: 'pem' }) as string }] });
    },
  });
  client = mqtt.connect(upstream.url, { clientId: 'regulator-console', reconnectPeriod: 200 });
  client.on('message', (_t, payload) => {
    const r = JSON.parse(payload.toString());
    replies.set(r.transaction, r);
  });
  await rig.until('regulator console connected', () => client.connected, 10_000);
  await client.subscribeAsync(`fillgate/${station}/gateway/reply`, { qos: 1 });
  await rig.until('station relay connected upstream', () => rig.station.mqtt?.relay?.status().connected, 10_000);
});
test.after(async () => {
  await client?.endAsync(true);
  await rig?.close();
  await rx?.close();
  await upstream?.dispose();
});

function signed(command: RemoteCommandName, data?: { code?: string; reason?: string }): { transaction: string; payload: string } {
  seq++;
  const transaction = `tx-${command}-${seq}`;
  const body = { v: 1 as const, station, keyId: 'reg1', seq, issuedAt: new Date().toISOString(), transaction, command, ...(data ? { data } : {}) };
  return { transaction, payload: JSON.stringify(signCommand(body, reg.privateKey)) };
}

/** Publish on gateway/cmd upstream and wait for the envelope reply on gateway/reply. */
async function send(cmd: { transaction: string; payload: string }) {
  replies.delete(cmd.transaction);
  await client.publishAsync(`fillgate/${station}/gateway/cmd`, cmd.payload, { qos: 1 });
  return rig.until(`reply to ${cmd.transaction}`, () => replies.get(cmd.transaction), 15_000);
}

const simPost = (id: string) => rig.sim.state().posts.find((p) => p.id === id)!;
const locked = () => rig.station.lockState.some((l) => l.lock === 'remote');

/** Scan at a post with the cylinder on its scale; the refusal record, or the phase it reached. */
async function scanAt(post: string, code: string) {
  const before = rig.records.length;
  rig.sim.place(post, code);
  await rig.until(`${post} loaded`, () => simPost(post).scale.grossKg > 1);
  await new Promise((r) => setTimeout(r, 1600)); // past the reader's duplicate window: the same code again is a new read
  rig.sim.scan(post, code);
  const out = await rig.until(`${post} outcome of the scan`, () => rig.records.slice(before).find((r) => r.cylinderCode === code) ?? (['verified', 'cylinderReady'].includes(rig.phase(post)) ? 'verified' : undefined));
  rig.sim.remove(post);
  await rig.until(`${post} empty`, () => simPost(post).scale.grossKg < 1);
  await rig.until(`${post} idle`, () => ['idle', 'closedOut', 'aborted'].includes(rig.phase(post)));
  return out;
}

it('a remote lock refuses fills and survives a restart; its replay is refused; unlock lifts it', async () => {
  const lock = signed('lock', { reason: 'inspection of the yard' });
  const r = await send(lock);
  assert.is(r.status, 'ok', JSON.stringify(r));
  assert.ok(locked(), JSON.stringify(rig.station.lockState));
  const refused = await scanAt('P1', 'E2000017A1B20004');
  assert.ok(typeof refused === 'object' && refused.refusals.some((x) => x.code === 'STATION_LOCKED_REMOTE'), JSON.stringify(refused));

  await rig.restartGateway();
  assert.ok(locked(), 'still locked after a restart');
  await rig.until('relay reconnected', () => rig.station.mqtt?.relay?.status().connected, 10_000);

  const replay = await send(lock); // the very same signed bytes again
  assert.is(replay.status, 'error');
  assert.match(replay.error!, /^REPLAYED: /);
  const unsigned = JSON.parse(signed('unlock').payload);
  delete unsigned.sig;
  const u = await send({ transaction: unsigned.transaction, payload: JSON.stringify(unsigned) });
  assert.match(u.error!, /^UNSIGNED: /);
  assert.ok(locked(), 'neither the replay nor the unsigned unlock changed anything');

  const unlock = await send(signed('unlock'));
  assert.is(unlock.status, 'ok', JSON.stringify(unlock));
  assert.not.ok(locked());
});

it('a remote quarantine refuses the cylinder at a post; release lets it through again', async () => {
  const code = 'E2000017A1B20005';
  const q = await send(signed('quarantine', { code, reason: 'regulator hold' }));
  assert.is(q.status, 'ok', JSON.stringify(q));
  assert.is(rig.station.registry.getCylinder(code)!.status, 'quarantined');
  const refused = await scanAt('P2', code);
  assert.ok(typeof refused === 'object' && refused.refusals.some((x) => x.code === 'QUARANTINED'), JSON.stringify(refused));
  const rel = await send(signed('release', { code }));
  assert.is(rel.status, 'ok', JSON.stringify(rel));
  assert.is(rig.station.registry.getCylinder(code)!.status, 'active');
  assert.is(await scanAt('P2', code), 'verified', 'after the release the cylinder is verified at the post');
  const st = await send(signed('status'));
  assert.is(st.status, 'ok');
  assert.equal((st.data as { locks: unknown[] }).locks, []);
});

it('the signed events reach the receiver, verify there with no gaps, and the station chain verifies', async () => {
  const local = rig.station.eventLog;
  await rig.until('every event acknowledged', () => local.counts().pending === 0 && local.counts().total > 0, 20_000);
  const res = await fetch(`${rx.url}/v1/stations/${station}/events`);
  const { report, events } = (await res.json()) as { report: { accepted: number; gaps: unknown[]; rejected: number; lastSeq: number }; events: StationEventV1[] };
  assert.is(report.accepted, local.counts().total);
  assert.equal(report.gaps, []);
  assert.is(report.rejected, 0);
  const remote = events.filter((e) => e.kind === 'remote.command');
  const seen = remote.map((e) => `${(e.data as { command: string }).command}:${(e.data as { status: string }).status}${e.reason ? `:${e.reason}` : ''}`);
  assert.equal(seen, ['lock:ok', 'lock:refused:REPLAYED', 'unlock:refused:UNSIGNED', 'unlock:ok', 'quarantine:ok', 'release:ok', 'status:ok']);
  const has = (kind: string, subject: string) => events.some((e) => e.kind === kind && e.subject === subject);
  assert.ok(has('latch.set', 'remote') && has('latch.lift', 'remote'), 'the remote lock and its lift are events');
  assert.ok(has('registry.cylinder.quarantined', 'E2000017A1B20005') && has('registry.cylinder.active', 'E2000017A1B20005'));
  assert.is(events.filter((e) => e.kind === 'station.started').length, 2, 'both starts');
  const st = stationStatus(rig.station);
  assert.is(st.events?.pending, 0);
  assert.ok((st.remote?.refused ?? 0) >= 1, JSON.stringify(st.remote));
  const pem = readFileSync(join(rig.dataDir, 'station-key.pub.pem'), 'utf8');
  assert.is(verifyEvents(rig.station.store.db, pem).ok, true);
});

test.run();
