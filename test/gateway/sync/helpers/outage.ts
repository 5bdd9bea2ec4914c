/**
 * One platform outage, end to end, shared by the outage test and the
 * benchmark: the uploader runs while the receiver is down and the station
 * keeps recording; then the receiver (its own process, worker pool) comes
 * back and the backlog drains through a proxy. Returns the figures.
 */
import { writeFileSync } from 'node:fs';
import { systemClock } from '../../../../protocols/clock.ts';
import { RecordStore } from '../../../../gateway/records/store.ts';
import { uploadTimeliness } from '../../../../gateway/sync/timeliness.ts';
import { Uploader } from '../../../../gateway/sync/uploader.ts';
import { uploadConfigSchema } from '../../../../gateway/records/config.ts';
import { eventually, makeAttempt, type Keys } from '../../records/fixtures.ts';
import { ChaosProxy } from './chaos-proxy.ts';
import { kill, spawnReceiver } from './rx-proc.ts';

export interface OutageResult {
  records: number;
  appendPerSec: number;
  catchUpMs: number;
  catchUpPerSec: number;
  failuresDuringOutage: number;
  oldestAgeAtRecoveryMs: number;
  duplicates: number;
}

/**
 * `shipped`: the uploader runs with the config's defaults (upload.* in docs/configuration.md), as a
 * station does; otherwise with the test's quick settings (batch 2,000, backoff 20-250 ms).
 */
export async function runOutage(o: { dir: string; keys: Keys; records: number; threads?: number; batchSize?: number; timeoutMs?: number; shipped?: boolean }): Promise<OutageResult> {
  writeFileSync(`${o.dir}/st01.pem`, o.keys.publicKeyPem);
  const store = new RecordStore({ db: `${o.dir}/gw.db`, clock: systemClock, station: 'ST01', privateKey: o.keys.privateKey });
  // The receiver is down: the proxy points at a port nobody listens on (connection refused).
  const proxy = new ChaosProxy({ host: '127.0.0.1', port: 1 });
  const url = await proxy.listen();
  const up = new Uploader({
    store,
    clock: systemClock,
    config: o.shipped
      ? uploadConfigSchema.parse({ url: `${url}/v1/records` })
      : { url: `${url}/v1/records`, batchSize: o.batchSize ?? 2000, batchBytes: 8 * 1024 * 1024, timeoutMs: o.timeoutMs ?? 30_000, idleMs: 20, backoff: { initialMs: 20, maxMs: 250, factor: 2, jitter: 0.5 } },
  });
  let rx: Awaited<ReturnType<typeof spawnReceiver>> | undefined;
  try {
    up.start();
    const t0 = performance.now();
    for (let i = 0; i < o.records; i += 1000) {
      store.appendMany(Array.from({ length: Math.min(1000, o.records - i) }, (_, k) => makeAttempt(i + k + 1)));
      await new Promise((r) => setImmediate(r)); // let the uploader try (and fail) meanwhile
    }
    const appendPerSec = o.records / ((performance.now() - t0) / 1000);
    const failuresDuringOutage = up.stats.failures;
    const oldestAgeAtRecoveryMs = uploadTimeliness(store, systemClock).oldestUnackedAgeMs;
    rx = await spawnReceiver(['--db', `${o.dir}/rx.db`, '--station', `ST01=${o.dir}/st01.pem`, '--threads', String(o.threads ?? 2)]);
    const t1 = performance.now();
    proxy.target = { host: '127.0.0.1', port: rx.port };
    await eventually(() => store.oldestPending() === undefined, 600_000, 'backlog cleared');
    const catchUpMs = performance.now() - t1;
    return { records: o.records, appendPerSec, catchUpMs, catchUpPerSec: o.records / (catchUpMs / 1000), failuresDuringOutage, oldestAgeAtRecoveryMs, duplicates: up.stats.duplicates };
  } finally {
    await up.stop();
    if (rx) await kill(rx.child);
    await proxy.close();
    store.close();
  }
}
