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
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import mqtt from 'mqtt';
import Database from '../../gateway/sqlite.ts';
import { monitorEventLoopDelay, performance as perf } from 'node:perf_hooks';
import { startStationBroker } from '../../gateway/mqtt/broker.ts';
import { startBrokerWorker } from '../../gateway/mqtt/broker-thread.ts';
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
const loadPath = new URL('./mqtt-load.ts', import.meta.url).pathname;
/** Where aedes runs: the posts' thread as shipped (mqtt.broker.thread), or `MQTT_BENCH_THREAD=worker` for its worker thread. */
const THREAD: 'worker' | 'main' = process.env.MQTT_BENCH_THREAD === 'worker' ? 'worker' : 'main';

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
  /** CPU of the station side per 1,000 messages, ms: the gateway process plus, on the mosquitto side, mosquitto's. */
  stationCpuMsPer1k: number;
  /** Of which the local mosquitto's own (0 on the aedes side): the rest ran on the gateway's one thread. */
  brokerCpuMsPer1k: number;
  /** Event-loop lag of the gateway's (the posts') thread during the run, ms (monitorEventLoopDelay, 1 ms resolution). */
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** Event-loop utilisation of the gateway's thread during the run (0-1): how much of it the MQTT load took. */
  loopUtil: number;
  /** CPU of the gateway's own thread (the posts' event loop) per 1,000 messages, ms; stationCpuMsPer1k counts all threads. */
  gatewayThreadCpuMsPer1k: number;
}

/** The outbox the runtime builds, counting rows as their group commit resolves (the bench's clock for "ingested"). */
class CountingOutbox extends Outbox {
  committedRows = 0;
  private goal = Infinity;
  private onGoal = () => {};
  override add(msg: OutboxMessage): Promise<number> {
    const p = super.add(msg);
    p.then(() => ++this.committedRows === this.goal && this.onGoal(), () => undefined);
    return p;
  }
  /** Resolves when `n` rows are committed, or at the deadline. */
  reached(n: number, timeoutMs: number): Promise<void> {
    this.goal = n;
    return new Promise((r) => {
      const timer = setTimeout(r, timeoutMs);
      this.onGoal = () => (clearTimeout(timer), r());
    });
  }
}

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
  let brokerCpuMs = () => 0;
  if (kind === 'aedes') {
    const cfg = { station: 'ST1', broker: brokerSchema.parse({ host: '127.0.0.1', port: 0, devices }) };
    const broker = THREAD === 'main' ? await startStationBroker(cfg) : await startBrokerWorker(cfg);
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
    brokerCpuMs = () => processCpuMs(local.pid);
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
  await new Promise<void>((r) => (relay.status().connected ? r() : relay.connection.once(() => r())));

  // The devices and the upstream subscriber run in their own process (mqtt-load.ts), as at a station.
  const load = fork(loadPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(pick: (m: unknown) => T | undefined) =>
    new Promise<T>((resolve) => {
      const on = (m: unknown) => {
        const v = pick(m);
        if (v !== undefined) (load.off('message', on), resolve(v));
      };
      load.on('message', on);
    });
  const ready = next((m) => (m === 'ready' ? true : undefined));
  load.send({
    devices: ids.map((id) => (kind === 'aedes' ? { id, username: id, password: passwords[id], clientId: `${id}:b` } : { id, clientId: `b-${id}` })),
    url,
    upstreamUrl,
    qos,
    total,
    window: WINDOW,
    timeoutMs: TIMEOUT_MS,
  });
  await ready;
  const relayedCount = next((m) => (m && typeof m === 'object' && 'relayed' in m ? (m as { relayed: number }).relayed : undefined));
  const ingested = outbox.reached(total, TIMEOUT_MS);
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const elu0 = perf.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const thread0 = threadCpuMs(process.pid);
  const brokerCpu0 = brokerCpuMs();
  const started = performance.now();
  load.send('go');
  await ingested;
  const ingestAt = performance.now();
  const relayed = await relayedCount;
  const relayedAt = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const elu = perf.eventLoopUtilization(elu0);
  const threadMs = threadCpuMs(process.pid) - thread0;
  lag.disable();
  const brokerMs = brokerCpuMs() - brokerCpu0;
  const stationCpuMs = (cpu.user + cpu.system) / 1000 + brokerMs;
  const run: Run = {
    broker: kind,
    qos,
    ingestPerSec: outbox.committedRows / ((ingestAt - started) / 1000),
    relayedPerSec: relayed / ((relayedAt - started) / 1000),
    committed: outbox.committedRows,
    relayed,
    stationCpuMsPer1k: Number(((stationCpuMs / total) * 1000).toFixed(1)),
    brokerCpuMsPer1k: Number(((brokerMs / total) * 1000).toFixed(1)),
    loopLagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)),
    loopLagMaxMs: Number((lag.max / 1e6).toFixed(1)),
    loopUtil: Number(elu.utilization.toFixed(2)),
    gatewayThreadCpuMsPer1k: Number(((threadMs / total) * 1000).toFixed(1)),
  };
  if (run.committed < total || relayed < total) console.log(`  warning: ${kind} QoS ${qos}: ${run.committed}/${total} committed, ${relayed}/${total} relayed`);
  const exited = new Promise((r) => load.once('exit', r));
  load.send('bye');
  await exited;
  await relay.stop();
  await teardown();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return run;
}

/** utime + stime of another process, ms (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** utime + stime of one thread of this process (its main thread's id is the pid), ms. */
function threadCpuMs(tid: number): number {
  const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface MqttBench {
  messages: number;
  devices: number;
  reps: number;
  load: number[];
  runs: Run[];
  /** Medians per QoS, with aedes/mosquitto ratios (goal: ingest ratio >= 1 at both QoS). */
  summary: {
    qos: 0 | 1;
    aedesIngest: number;
    mosquittoIngest: number;
    ingestRatio: number;
    aedesRelayed: number;
    mosquittoRelayed: number;
    relayedRatio: number;
    aedesCpuMsPer1k: number;
    mosquittoCpuMsPer1k: number;
    /** mosquitto's own share of mosquittoCpuMsPer1k. */
    mosquittoOwnCpuMsPer1k: number;
    /** Gateway-thread event-loop lag p99 / max (ms) and utilisation, aedes side and mosquitto side. */
    aedesLoopLagP99Ms: number;
    aedesLoopLagMaxMs: number;
    mosquittoLoopLagP99Ms: number;
    mosquittoLoopLagMaxMs: number;
    aedesLoopUtil: number;
    mosquittoLoopUtil: number;
    /** CPU ms per 1,000 messages of the gateway's own thread. */
    aedesThreadCpuMsPer1k: number;
    mosquittoThreadCpuMsPer1k: number;
  }[];
  /** Where aedes ran. */
  thread: 'worker' | 'main';
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
    // Warm-up, not counted: the first run in a process pays for loading and JIT, whoever it is.
    for (const kind of ['aedes', 'mosquitto'] as const) await runOnce(kind, 0, Math.min(total, 2000), upstream.url);
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
      aedesCpuMsPer1k: pick('aedes', (r) => r.stationCpuMsPer1k),
      mosquittoCpuMsPer1k: pick('mosquitto', (r) => r.stationCpuMsPer1k),
      mosquittoOwnCpuMsPer1k: pick('mosquitto', (r) => r.brokerCpuMsPer1k),
      aedesLoopLagP99Ms: pick('aedes', (r) => r.loopLagP99Ms),
      aedesLoopLagMaxMs: pick('aedes', (r) => r.loopLagMaxMs),
      mosquittoLoopLagP99Ms: pick('mosquitto', (r) => r.loopLagP99Ms),
      mosquittoLoopLagMaxMs: pick('mosquitto', (r) => r.loopLagMaxMs),
      aedesLoopUtil: pick('aedes', (r) => r.loopUtil),
      mosquittoLoopUtil: pick('mosquitto', (r) => r.loopUtil),
      aedesThreadCpuMsPer1k: pick('aedes', (r) => r.gatewayThreadCpuMsPer1k),
      mosquittoThreadCpuMsPer1k: pick('mosquitto', (r) => r.gatewayThreadCpuMsPer1k),
    };
  });
  console.log(`\nMQTT: ${total} messages from ${DEVICES} devices → station broker → gateway outbox (SQLite file, group commit) → upstream mosquitto`);
  console.log(`medians of ${reps} alternating runs, msg/s; load average before: ${load.join(' ')}`);
  console.log('QoS  ingest aedes  ingest mosquitto  ratio   relayed aedes  relayed mosquitto  ratio   station CPU ms/1k msg aedes  mosquitto (its own)');
  for (const s of summary) {
    console.log(
      `${s.qos}    ${String(s.aedesIngest).padStart(12)}  ${String(s.mosquittoIngest).padStart(16)}  ${s.ingestRatio.toFixed(2).padStart(5)}   ${String(s.aedesRelayed).padStart(13)}  ${String(s.mosquittoRelayed).padStart(17)}  ${s.relayedRatio.toFixed(2).padStart(5)}   ${String(s.aedesCpuMsPer1k).padStart(27)}  ${String(s.mosquittoCpuMsPer1k).padStart(9)} (${s.mosquittoOwnCpuMsPer1k})`,
    );
  }
  console.log(`gateway thread (aedes in its ${THREAD === 'worker' ? 'worker thread' : 'main thread'}): event-loop lag p99 / max ms, utilisation, its CPU ms/1k msg`);
  for (const s of summary) {
    console.log(
      `${s.qos}    aedes ${s.aedesLoopLagP99Ms} / ${s.aedesLoopLagMaxMs} ms, ${s.aedesLoopUtil}, ${s.aedesThreadCpuMsPer1k}   mosquitto side ${s.mosquittoLoopLagP99Ms} / ${s.mosquittoLoopLagMaxMs} ms, ${s.mosquittoLoopUtil}, ${s.mosquittoThreadCpuMsPer1k}`,
    );
  }
  console.log('goal (issue 14 point 5): ingest ratio >= 1 at QoS 0 and QoS 1; station CPU = the gateway process (all its threads), plus mosquitto on its side');
  return { messages: total, devices: DEVICES, reps, load, runs, summary, thread: THREAD };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runMqttBench(Number(process.argv[2] ?? 8000), Number(process.argv[3] ?? 3));
}
