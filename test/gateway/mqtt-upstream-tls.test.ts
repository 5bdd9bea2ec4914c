/**
 * Issue 4 point 4: the upstream relay over TLS with credentials, against a real mosquitto
 * (started here on loopback ports) with `allow_anonymous false`, a password file made by
 * mosquitto_passwd and an ACL that lets the gateway publish under fillgate/#.
 * Proves: delivery over mqtts:// for MQTT 3.1.1 and 5 with the client id fillgate-<station>;
 * a wrong password or a server certificate the relay cannot trust delivers nothing, keeps
 * every message in the outbox and says why in status(); the credential never reaches a
 * server that failed verification.
 *
 * The server certificate is the HTTPS upload test's self-signed fixture (SAN IP:127.0.0.1,
 * DNS:localhost, CA:TRUE, valid 100 years), so it doubles as the private CA the relay trusts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { skipIf } from '../fixtures/needs.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { upstreamSchema } from '../../gateway/mqtt/config.ts';
import { systemClock } from '../../protocols/clock.ts';
import { eventually, freePort, hasBinary } from './mqtt-support.ts';

const fixtures = new URL('./sync/fixtures/', import.meta.url).pathname;
const CA = join(fixtures, 'tls-test-cert.pem');
const CERT = join(fixtures, 'tls-test-cert.pem');
const KEY = join(fixtures, 'tls-test-key.pem');
const AUDIT = { username: 'audit', password: 'audit-secret' };

const skipWhy = !hasBinary('mosquitto')
  ? 'mosquitto not installed (apt-get install mosquitto)'
  : !hasBinary('mosquitto_passwd')
    ? 'mosquitto_passwd not installed: mosquitto 2.0 reads only hashed password files, so there is no credential to test'
    : undefined;

const dir = mkdtempSync(join(tmpdir(), 'fillgate-mqtt-tls-'));

/** mosquitto with TLS-only listeners, a password file and an ACL; SIGHUP reloads both (mosquitto.conf(5)). */
class TlsUpstream {
  private proc?: ChildProcess;
  private readonly conf = join(dir, 'mosquitto.conf');
  private readonly passwd = join(dir, 'passwd');
  private readonly logFile = join(dir, 'mosquitto.log');
  /** A second TLS listener on 127.0.0.2, a name the certificate does not cover. */
  constructor(readonly port: number, readonly otherNamePort: number) {}

  setPassword(user: string, password: string): void {
    const create = existsSync(this.passwd) ? [] : ['-c'];
    const r = spawnSync('mosquitto_passwd', ['-b', ...create, this.passwd, user, password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
  }

  async start(gatewayUsers: string[]): Promise<void> {
    const acl = [...gatewayUsers.flatMap((u) => [`user ${u}`, 'topic readwrite fillgate/#', '']), `user ${AUDIT.username}`, 'topic read fillgate/#', ''];
    writeFileSync(join(dir, 'acl'), acl.join('\n'));
    const tls = [`cafile ${CA}`, `certfile ${CERT}`, `keyfile ${KEY}`];
    writeFileSync(this.conf, [
      // Started as root (CI containers), mosquitto drops to user "mosquitto", which cannot read our
      // 0700 temp dir; `user root` keeps it as it is (mosquitto.conf(5); ignored when not root).
      'user root',
      'per_listener_settings false',
      'allow_anonymous false',
      `password_file ${this.passwd}`,
      `acl_file ${join(dir, 'acl')}`,
      // Debian's default of 1000 silently drops QoS1 (engineering.md).
      'max_queued_messages 0',
      'persistence false',
      `log_dest file ${this.logFile}`,
      'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
      `listener ${this.port} 127.0.0.1`, ...tls,
      `listener ${this.otherNamePort} 127.0.0.2`, ...tls,
      '',
    ].join('\n'));
    const proc = spawn('mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    this.proc = proc;
    await eventually(() => this.log().includes(' running') || proc.exitCode !== null, 10_000, 'mosquitto running');
    if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}):\n${this.log()}`);
    await waitForPort('127.0.0.1', this.port);
    await waitForPort('127.0.0.2', this.otherNamePort);
  }

  /** The operator changed the password file or ACL: reload without dropping clients. */
  reload(): void {
    this.proc?.kill('SIGHUP');
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  count(pattern: RegExp): number {
    return this.log().match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
  }
}

async function waitForPort(host: string, port: number): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const c = netConnect(port, host);
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`mosquitto not listening on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Closed after each test even when it fails, so a failure cannot leave the process hanging. */
const openRigs = new Set<Rig>();
const openAudits = new Set<Audit>();

/** The upstream operator's own subscriber, over TLS with its credentials. */
class Audit {
  readonly seen: { topic: string; payload: string; outboxId?: string }[] = [];
  private client!: MqttClient;
  async open(url: string, pv: 4 | 5, filter: string): Promise<void> {
    openAudits.add(this);
    this.client = mqtt.connect(url, { ...AUDIT, protocolVersion: pv, ca: readFileSync(CA), reconnectPeriod: 200 });
    this.client.on('error', () => undefined);
    this.client.on('message', (topic, payload, packet) => {
      const outboxId = packet.properties?.userProperties?.['outbox-id'];
      this.seen.push({ topic, payload: payload.toString(), outboxId: Array.isArray(outboxId) ? outboxId[0] : outboxId });
    });
    await eventually(() => this.client.connected, 10_000, 'audit connected');
    await this.client.subscribeAsync(filter, { qos: 1 });
  }
  payloads(topic: string): string[] {
    return this.seen.filter((m) => m.topic === topic).map((m) => m.payload);
  }
  /** The outbox messages' seq fields in arrival order (the gateway's own state topic left out). */
  outboxSeqs(): unknown[] {
    return this.seen.filter((m) => !m.topic.endsWith('/gateway/state')).map((m) => JSON.parse(m.payload).seq);
  }
  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

interface Rig {
  relay: UpstreamRelay;
  db: Database.Database;
  closes: number;
}

function makeRelay(station: string, upstream: Record<string, unknown>): Rig {
  const db = new Database(join(dir, `${station}-${Math.random().toString(36).slice(2)}.db`));
  const outbox = new Outbox(db, { telemetryCap: 100, clock: systemClock });
  // Through the config schema, so the defaults (rejectUnauthorized true, window) are the shipped ones.
  const cfg = upstreamSchema.parse({ keepaliveSec: 5, reconnectMs: 200, ...upstream });
  const rig: Rig = { relay: new UpstreamRelay({ station, upstream: cfg }, { outbox }), db, closes: 0 };
  rig.relay.connection.on((c) => void (c.connected || rig.closes++));
  openRigs.add(rig);
  return rig;
}

/** One alarm, three fill records, two telemetry rows: committed (one group commit) before start, so the send order is fixed. */
async function enqueueSample(relay: UpstreamRelay): Promise<void> {
  const sent: Promise<number>[] = [];
  for (let i = 1; i <= 3; i++) sent.push(relay.send({ topic: relay.topics.fillOutcome('P1'), payload: JSON.stringify({ seq: i }), class: 'record' }));
  sent.push(relay.send({ topic: relay.topics.alarm, payload: JSON.stringify({ seq: 'alarm' }), class: 'alarm' }));
  for (let i = 1; i <= 2; i++) sent.push(relay.send({ topic: relay.topics.postStatus('P1'), payload: JSON.stringify({ seq: `t${i}` }), class: 'telemetry' }));
  await Promise.all(sent);
}


async function closeAll(): Promise<void> {
  for (const rig of openRigs) {
    await rig.relay.stop();
    rig.db.close();
  }
  for (const a of openAudits) await a.close();
  openRigs.clear();
  openAudits.clear();
}

const it = skipIf(test, skipWhy);
const users = ['gw-S4', 'gw-S5', 'gw-SPW4', 'gw-SPW5', 'gw-SCA', 'gw-SNAME'];
let upstream: TlsUpstream;
const url = () => `mqtts://127.0.0.1:${upstream.port}`;

test.before(async () => {
  if (skipWhy) return;
  upstream = new TlsUpstream(await freePort(), await freePort());
  upstream.setPassword(AUDIT.username, AUDIT.password);
  for (const u of users) upstream.setPassword(u, `${u}-secret`);
  // The wrong-password gateways were issued a new password the broker does not know yet.
  for (const u of ['gw-SPW4', 'gw-SPW5']) upstream.setPassword(u, 'the-old-one');
  await upstream.start(users);
});

for (const pv of [4, 5] as const) {
  it(`MQTT ${pv === 4 ? '3.1.1' : '5'} over TLS with credentials: every outbox message reaches the upstream subscriber, client id fillgate-<station>`, async () => {
    const station = `S${pv}`;
    const audit = new Audit();
    await audit.open(url(), pv, `fillgate/${station}/#`);
    const rig = makeRelay(station, { url: url(), protocolVersion: pv, username: `gw-${station}`, password: `gw-${station}-secret`, caFile: CA });
    const { relay } = rig;
    await enqueueSample(relay);
    assert.is(relay.status().backlog.count, 6);
    relay.start();
    await eventually(() => relay.status().backlog.count === 0, 15_000, 'outbox drained');
    await eventually(() => audit.outboxSeqs().length >= 6, 10_000, 'audit received all six');

    // Alarm first, then records and telemetry in enqueue order (outbox.ts priority), each once.
    assert.equal(audit.outboxSeqs(), ['alarm', 1, 2, 3, 't1', 't2']);
    assert.ok(audit.payloads(relay.topics.gatewayState).some((p) => p.includes('"online"')), 'retained online state published under the ACL');
    if (pv === 5) assert.ok(audit.seen.every((m) => m.topic.endsWith('/gateway/state') || /^\d+$/.test(m.outboxId ?? '')), 'MQTT 5 carries the outbox id');

    // A message sent while connected goes straight through.
    relay.send({ topic: relay.topics.fillOutcome('P2'), payload: JSON.stringify({ seq: 4 }), class: 'record' });
    await eventually(() => audit.payloads(relay.topics.fillOutcome('P2')).length === 1, 10_000, 'live message');

    const s = relay.status();
    assert.is(s.connected, true);
    assert.is(s.connects, 1);
    assert.is(s.publishErrors, 0);
    assert.is(s.lastError, undefined);
    assert.is(s.backlog.count, 0);
    assert.is(relay.clientId, `fillgate-${station}`);
    // The link really is TLS and the server was verified against the fixture CA.
    const stream = (relay as unknown as { client: MqttClient }).client.stream;
    assert.ok(stream instanceof TLSSocket, 'mqtts:// runs over a TLS socket');
    assert.is((stream as TLSSocket).authorized, true);
    // The broker saw our client id, protocol (mosquitto: p2 = 3.1.1, p5 = 5), persistent session (c0) and user.
    const p = pv === 4 ? 'p2' : 'p5';
    await eventually(() => upstream.log().includes(`as fillgate-${station} (${p}, c0, k5, u'gw-${station}')`), 5_000, 'connect line in the broker log');
  });
}

for (const pv of [4, 5] as const) {
  it(`MQTT ${pv === 4 ? '3.1.1' : '5'}, wrong password: nothing published, backlog kept, status says why; drains once the broker accepts the password`, async () => {
    const station = `SPW${pv}`;
    const audit = new Audit();
    await audit.open(url(), pv, `fillgate/${station}/#`);
    const refusedBefore = upstream.count(/disconnected, not authorised/);
    const rig = makeRelay(station, { url: url(), protocolVersion: pv, username: `gw-${station}`, password: `gw-${station}-secret`, caFile: CA });
    const { relay } = rig;
    await enqueueSample(relay);
    relay.start();
    await eventually(() => /not authori[sz]ed|bad user ?name or password/i.test(relay.status().lastError ?? ''), 10_000, 'refusal in status()');
    // It keeps trying (an upstream operator may fix the credential at any time), and is refused each time.
    await eventually(() => upstream.count(/disconnected, not authorised/) >= refusedBefore + 2, 10_000, 'a second refused CONNECT');
    let s = relay.status();
    assert.is(s.connected, false);
    assert.is(s.connects, 0);
    assert.is(s.acked, 0);
    assert.is(s.backlog.count, 6, 'every message kept in the outbox');
    assert.is(s.backlog.byClass.alarm, 1);
    assert.equal(audit.seen, [], 'nothing reached the upstream, not even the online state');

    // The upstream operator installs the password the gateway was issued: the relay connects on its next try and drains.
    upstream.setPassword(`gw-${station}`, `gw-${station}-secret`);
    upstream.reload();
    await eventually(() => relay.status().backlog.count === 0, 15_000, 'drained after the password was accepted');
    await eventually(() => audit.outboxSeqs().length >= 6, 10_000, 'audit received all six');
    assert.equal(audit.outboxSeqs(), ['alarm', 1, 2, 3, 't1', 't2']);
    s = relay.status();
    assert.is(s.connected, true);
    assert.is(s.connects, 1);
    assert.is(s.lastError, undefined, 'the old refusal no longer shows once connected');
  });
}

it('untrusted server certificate (no CA, rejectUnauthorized true): no connection, backlog kept, the password never reaches the server', async () => {
  const audit = new Audit();
  await audit.open(url(), 4, 'fillgate/SCA/#');
  const rig = makeRelay('SCA', { url: url(), username: 'gw-SCA', password: 'gw-SCA-secret' });
  const { relay } = rig;
  await enqueueSample(relay);
  relay.start();
  await eventually(() => /self[- ]signed certificate/i.test(relay.status().lastError ?? ''), 10_000, 'certificate error in status()');
  await eventually(() => rig.closes >= 2, 10_000, 'a second failed attempt');
  const s = relay.status();
  assert.is(s.connected, false);
  assert.is(s.connects, 0);
  assert.is(s.backlog.count, 6);
  assert.equal(audit.seen, []);
  // mosquitto logs a line for every CONNECT it reads: none from this gateway, so its credential was never sent.
  assert.not.match(upstream.log(), /as fillgate-SCA /);
});

it('trusted CA but the certificate does not name the host (127.0.0.2): no connection, backlog kept', async () => {
  const rig = makeRelay('SNAME', { url: `mqtts://127.0.0.2:${upstream.otherNamePort}`, username: 'gw-SNAME', password: 'gw-SNAME-secret', caFile: CA });
  const { relay } = rig;
  await enqueueSample(relay);
  relay.start();
  await eventually(() => /127\.0\.0\.2 is not in the cert's list|altnames/i.test(relay.status().lastError ?? ''), 10_000, 'name mismatch in status()');
  await eventually(() => rig.closes >= 2, 10_000, 'a second failed attempt');
  assert.is(relay.status().connects, 0);
  assert.is(relay.status().backlog.count, 6);
  assert.not.match(upstream.log(), /as fillgate-SNAME /);
});

test.after.each(closeAll);

test.after(async () => {
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
