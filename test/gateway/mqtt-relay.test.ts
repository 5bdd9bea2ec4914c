/**
 * Issue 4 points 4 and 6 against a real upstream (mosquitto, started here on a loopback port):
 * cut the upstream link, kill -9 and restart the gateway, restart the upstream broker, all
 * mid-run; a subscriber on the upstream must see every enqueued message (lost = 0),
 * duplicates are counted, and first arrivals keep their order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, skipIf } from '../fixtures/needs.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { systemClock } from '../../protocols/clock.ts';
import { eventually, freePort, Mosquitto, TcpProxy } from './mqtt-support.ts';

const it = skipIf(test, missing('mosquitto'));
const itClients = skipIf(test, missing('mosquitto', 'mosquitto_sub', 'mosquitto_pub'));
const dir = mkdtempSync(join(tmpdir(), 'fillgate-relay-'));
const childPath = new URL('./mqtt-relay-child.ts', import.meta.url).pathname;

class Gateway {
  proc?: ChildProcess;
  lastEnqueued = 0;
  drained = false;
  constructor(private db: string, private url: string, private pv: 4 | 5) {}
  start(from: number, to: number, intervalMs: number): void {
    this.drained = false;
    const p = spawn(process.execPath, ['--import', 'tsx', childPath, this.db, this.url, String(from), String(to), String(intervalMs), String(this.pv)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = p;
    let buf = '';
    p.stdout!.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('enq ')) this.lastEnqueued = Number(l.slice(4));
        if (l === 'drained') this.drained = true;
      }
    });
  }
  async kill(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill(signal);
    });
  }
}

async function runScenario(pv: 4 | 5) {
  const upstream = new Mosquitto(await freePort());
  await upstream.start();
  const proxy = new TcpProxy(upstream.port);
  await proxy.start();
  // The upstream's own subscriber: a persistent session (QoS 1) on a broker with persistence, so what the
  // broker acked and queued for it survives the broker's restart. The relay's promise ends at the broker's
  // PUBACK: a subscriber whose session dies with the broker would count the broker's losses as the relay's.
  // MQTT 5 needs a session expiry for that: without one the session ends with the connection (MQTT 5.0
  // section 3.1.2.11.2), whatever `clean` says.
  const audit = mqtt.connect(upstream.url, {
    clientId: `audit-${pv}`, clean: false, reconnectPeriod: 200, protocolVersion: pv,
    ...(pv === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });
  audit.on('error', () => undefined);
  const auditSessions: boolean[] = [];
  audit.on('connect', (ack) => auditSessions.push(ack.sessionPresent));
  const counts = new Map<number, number>();
  const firstOrder: number[] = [];
  audit.on('message', (topic, payload) => {
    if (!topic.endsWith('/outcome') && !topic.endsWith('/alarm')) return;
    const seq = JSON.parse(payload.toString()).seq as number;
    counts.set(seq, (counts.get(seq) ?? 0) + 1);
    if (counts.get(seq) === 1 && topic.endsWith('/outcome')) firstOrder.push(seq);
  });
  await eventually(() => audit.connected, 10_000, 'audit connect');
  await audit.subscribeAsync('fillgate/ST1/#', { qos: 1 });

  const gw = new Gateway(join(dir, `outbox-${pv}.db`), `mqtt://127.0.0.1:${proxy.port}`, pv);
  const total = 400;
  gw.start(1, total, 5);
  // 1. Upstream link cut mid-run (WAN outage), restored 1.5 s later.
  await eventually(() => gw.lastEnqueued >= 60, 20_000, 'first messages');
  proxy.cut();
  await eventually(() => gw.lastEnqueued >= 120, 20_000, 'messages during the outage');
  proxy.restore();
  // 2. Gateway killed mid-run (no goodbye), restarted from the next message it had not committed.
  await eventually(() => gw.lastEnqueued >= 180, 20_000, 'messages before the kill');
  await gw.kill('SIGKILL');
  gw.start(gw.lastEnqueued + 1, total, 5);
  // 3. Upstream broker restarted mid-run.
  await eventually(() => gw.lastEnqueued >= 260, 20_000, 'messages before the broker restart');
  await upstream.stop();
  await eventually(() => gw.lastEnqueued >= 300, 20_000, 'messages while the broker is down');
  await upstream.start();
  await eventually(() => gw.lastEnqueued === total && gw.drained, 40_000, 'gateway drained');
  await eventually(() => counts.size === total, 30_000, `upstream received all (${counts.size}/${total})`).catch(() => undefined);

  const lost: number[] = [];
  let duplicates = 0;
  for (let s = 1; s <= total; s++) {
    const n = counts.get(s) ?? 0;
    if (n === 0) lost.push(s);
    else duplicates += n - 1;
  }
  let outOfOrder = 0;
  for (let i = 1; i < firstOrder.length; i++) if (firstOrder[i] < firstOrder[i - 1]) outOfOrder++;
  await gw.kill('SIGTERM');
  await audit.endAsync(true);
  await proxy.close();
  await upstream.dispose();
  return { lost, duplicates, received: counts.size, outOfOrder, auditSessions };
}

function check(r: Awaited<ReturnType<typeof runScenario>>): void {
  // Every reconnect of the subscriber (after the broker restart) must find its session: otherwise what
  // the old broker acked and queued for it is gone, and so is what the relay resends before it resubscribes.
  assert.ok(r.auditSessions.length >= 2, `the subscriber reconnected after the broker restart (${r.auditSessions})`);
  assert.equal(r.auditSessions.slice(1), r.auditSessions.slice(1).map(() => true), `the subscriber's session survived the broker restart (${r.auditSessions})`);
  assert.is(r.lost.length, 0, `lost seq ${r.lost.join(',')}`);
  assert.is(r.received, 400);
  assert.is(r.outOfOrder, 0);
}

it('MQTT 3.1.1: upstream cut, gateway kill -9 and upstream broker restart mid-run lose nothing', async () => {
  const r = await runScenario(4);
  console.log(`  mqtt 3.1.1: received ${r.received}, lost ${r.lost.length}, duplicates ${r.duplicates}, out of order ${r.outOfOrder}`);
  check(r);
});

it('MQTT 5: the same run loses nothing', async () => {
  const r = await runScenario(5);
  console.log(`  mqtt 5: received ${r.received}, lost ${r.lost.length}, duplicates ${r.duplicates}, out of order ${r.outOfOrder}`);
  check(r);
});

itClients('subscriptions are restored after an upstream restart that lost the session; backlog is visible; mosquitto_sub/pub as the upstream side', async () => {
  const upstream = new Mosquitto(await freePort(), false);
  await upstream.start();
  const db = new Database(join(dir, 'sub.db'));
  const outbox = new Outbox(db, { telemetryCap: 100, clock: systemClock });
  const relay = new UpstreamRelay(
    { station: 'ST1', upstream: { url: upstream.url, protocolVersion: 4, keepaliveSec: 5, reconnectMs: 200, window: 20, rejectUnauthorized: true } },
    { outbox },
  );
  const inbound: string[] = [];
  relay.inbound.on((m) => inbound.push(m.payload.toString()));
  relay.start();
  await eventually(() => relay.status().connected, 10_000, 'relay connected');
  const sub = (args: string[]) => {
    const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(upstream.port), ...args]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    return { p, out: () => out };
  };
  // mosquitto_sub sees the retained online state.
  const state = sub(['-t', 'fillgate/ST1/gateway/state', '-C', '1']);
  await eventually(() => state.out().includes('online'), 10_000, 'retained online');

  await upstream.stop();
  relay.send({ topic: relay.topics.alarm, payload: JSON.stringify({ id: 'x1' }), class: 'alarm' });
  relay.send({ topic: relay.topics.fillOutcome('P1'), payload: JSON.stringify({ attemptId: 'r1' }), class: 'record' });
  await eventually(() => !relay.status().connected, 10_000, 'relay disconnected');
  await new Promise((r) => setTimeout(r, 50));
  const backlog = relay.status().backlog;
  assert.is(backlog.count, 2);
  assert.ok(backlog.bytes > 0);
  assert.ok(backlog.oldestAgeMs >= 0);
  assert.match(relay.metricsText(), /fillgate_outbox_messages\{class="alarm"\} 1\n/);
  assert.match(relay.metricsText(), /fillgate_upstream_connected 0/);

  await upstream.start();
  await eventually(() => relay.status().connects >= 2 && relay.status().backlog.count === 0, 20_000, 'reconnect and drain');
  // mosquitto_pub from the upstream side: reaches the relay only if it resubscribed (no persistence = no session).
  await eventually(() => {
    spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(upstream.port), '-q', '1', '-t', relay.topics.gatewayCmd, '-m', '{"transaction":"u1","command":"status"}']);
    return inbound.length > 0;
  }, 10_000, 'command after resubscribe');
  assert.match(inbound[0], /u1/);

  // Last will: an ungraceful end says offline (retained) to the upstream.
  const will = sub(['-t', 'fillgate/ST1/gateway/state']);
  await eventually(() => will.out().includes('online'), 10_000, 'online before will');
  (relay as unknown as { client: mqtt.MqttClient }).client.stream.destroy();
  await eventually(() => will.out().includes('offline'), 20_000, 'will offline');
  will.p.kill();
  state.p.kill();
  await relay.stop();
  db.close();
  await upstream.dispose();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
