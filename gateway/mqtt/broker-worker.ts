/**
 * The embedded broker in its own thread (issue 14 point 5): aedes, its listeners, the ACL, the
 * penalty box and payload validation run here (startStationBroker, unchanged), so the posts'
 * thread gets only validated device messages, in one postMessage per event-loop turn. A QoS 1
 * PUBACK is held here until the main thread answers that the outbox batch holding what the
 * message caused has committed (`ack` up to a sequence number). Protocol: broker-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { startStationBroker } from './broker.ts';
import type { BrokerConfig } from './config.ts';
import type { DeviceMessage } from './topics.ts';
import type { FromWorker, ToWorker } from './broker-thread.ts';

const port = parentPort!;
const { station, broker: brokerCfg, levels } = workerData as { station: string; broker: BrokerConfig; levels: string[] };
const post = (m: FromWorker) => port.postMessage(m);

/** The broker's log lines go to the main thread's logger (pino stays there); levels it would drop are not sent. */
const enabled = new Set(levels);
const line = (level: string) => (obj: object, msg?: string) => {
  if (enabled.has(level)) post({ t: 'log', level, obj, msg });
};
const log = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') } as unknown as Logger;

const broker = await startStationBroker({ station, broker: brokerCfg }, { log });

// Device messages of this turn, sent together at its end: one postMessage per turn, not per message.
let seq = 0;
let batch: DeviceMessage[] = [];
let firstSeq = 1;
/** PUBACKs waiting, in sequence order (a refused payload waits on the message before it: same order, no new row). */
let held: { n: number; settle: (ok: boolean) => void }[] = [];
let acked = 0;
const flush = () => {
  const messages = batch;
  batch = [];
  post({ t: 'msgs', from: firstSeq, messages, counters: broker.counters });
};
/**
 * A batch goes at the end of the turn, or at once at BATCH_MAX: aedes can parse a whole socket
 * backlog (thousands of QoS 0 messages) in one turn, and one such batch would hold the posts'
 * thread for tens of ms.
 */
const BATCH_MAX = 64;
let flushScheduled = false;
broker.messages.on((m) => {
  if (batch.length === 0) {
    firstSeq = seq + 1;
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        if (batch.length > 0) flush();
      });
    }
  }
  seq++;
  batch.push(m);
  if (batch.length >= BATCH_MAX) flush();
});
// Called by startStationBroker's authorizePublish right after the message was emitted: the
// PUBACK waits for the main thread's answer for this message's sequence number.
broker.ackAfter(() => {
  const n = seq;
  if (n <= acked) return undefined;
  return new Promise((resolve, reject) => held.push({ n, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('outbox commit failed'))) }));
});
broker.rejections.on((r) => post({ t: 'rej', r, counters: broker.counters }));
const devicesChanged = () => post({ t: 'conn', devices: broker.connectedDevices(), counters: broker.counters });
broker.aedes.on('clientReady', devicesChanged);
broker.aedes.on('clientDisconnect', devicesChanged);
// Refusals before authentication (penalty box) change only counters: send them now and then.
setInterval(() => post({ t: 'counters', counters: broker.counters }), 1000).unref();

const taps = new Map<number, () => void>();
port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'ack':
    {
      acked = Math.max(acked, m.upTo);
      const due = held.filter((h) => h.n <= m.upTo);
      held = held.filter((h) => h.n > m.upTo);
      for (const h of due) h.settle(m.ok);
      return;
    }
    case 'pub':
      broker.publish(m.topic, Buffer.from(m.payload), { qos: m.qos, retain: m.retain }).then(
        () => post({ t: 'res', id: m.id }),
        (err) => post({ t: 'res', id: m.id, err: String(err) }),
      );
      return;
    case 'tap':
      void broker.tap(m.pattern, (topic, payload) => post({ t: 'tapped', id: m.id, topic, payload })).then((off) => {
        taps.set(m.id, off);
        post({ t: 'res', id: m.id });
      });
      return;
    case 'untap':
      taps.get(m.id)?.();
      taps.delete(m.id);
      return;
    case 'close':
      void broker.close().finally(() => {
        post({ t: 'res', id: m.id });
        port.close();
      });
      return;
  }
});
post({ t: 'ready', ports: broker.ports });
