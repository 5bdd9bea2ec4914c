/**
 * Issue 5 §5: the receiver killed mid-batch; a TCP proxy that drops, stalls
 * and resets connections; the gateway killed with SIGKILL mid-upload and
 * restarted. Afterwards the receiver holds every record exactly once, in
 * order, and the chains verify.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startReceiver } from '../../../gateway/receiver/server.ts';
import { keysInit, loadPrivateKey, toPublicKey } from '../../../gateway/records/keys.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { verifyRecords, formatVerifyReport } from '../../../gateway/records/verify.ts';
import { Uploader } from '../../../gateway/sync/uploader.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { eventually, makeAttempt, makeKeys, tempDir } from '../records/fixtures.ts';
import { eventuallyAsync } from '../../fixtures/wait.ts';
import { ChaosProxy } from './helpers/chaos-proxy.ts';
import { receivedChainProblems } from './helpers/check.ts';
import { kill, spawnReceiver } from './helpers/rx-proc.ts';

const cleanups: (() => Promise<void> | void)[] = [];
test.after.each(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function filledStore(dir: string, n: number, privateKey = makeKeys().privateKey): RecordStore {
  const store = new RecordStore({ db: `${dir}/gw.db`, clock: new ManualClock(), station: 'ST01', privateKey });
  for (let i = 0; i < n; i += 500) store.appendMany(Array.from({ length: Math.min(500, n - i) }, (_, k) => makeAttempt(i + k + 1)));
  return store;
}

test('a proxy that drops, stalls and resets connections: every record arrives once, in order', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const keys = makeKeys();
  const N = 3000;
  const store = filledStore(dir, N, keys.privateKey);
  cleanups.push(() => store.close());
  const rx = await startReceiver({ dbPath: `${dir}/rx.db`, stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
  cleanups.push(() => rx.close());
  const proxy = new ChaosProxy({ host: '127.0.0.1', port: rx.port }, ['drop', 'pass', 'reset', 'stall', 'resetReply', 'pass', 'resetReply', 'drop', 'pass'], 300);
  const url = await proxy.listen();
  cleanups.push(() => proxy.close());
  const up = new Uploader({ store, clock: new ManualClock(), config: { url: `${url}/v1/records`, batchSize: 200, timeoutMs: 1500, idleMs: 20, backoff: { initialMs: 10, maxMs: 100, factor: 2, jitter: 0.5 } } });
  cleanups.push(() => up.stop());
  up.start();
  await eventually(() => store.counts().pending === 0, 50_000, 'all acknowledged through the proxy');
  await up.stop();
  for (const f of ['drop', 'reset', 'stall', 'resetReply'] as const) assert.ok(proxy.counts[f] > 0, `fault ${f} happened`);
  assert.ok(up.stats.failures >= 4, `failures ${up.stats.failures}`);
  assert.ok(up.stats.duplicates > 0, 'a reply lost after the receiver committed came back as duplicate');
  assert.equal((await rx.store.report('ST01')).gaps, []);
  assert.equal(receivedChainProblems(`${dir}/rx.db`, 'ST01', N, keys.publicKey), []);
  const local = verifyRecords(store.db, keys.publicKey);
  assert.ok(local.ok, formatVerifyReport(local));
});

test('the receiver killed with SIGKILL mid-batch and restarted: nothing lost, nothing twice', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const keys = makeKeys();
  writeFileSync(`${dir}/st01.pem`, keys.publicKeyPem);
  const N = 4000;
  const store = filledStore(dir, N, keys.privateKey);
  cleanups.push(() => store.close());
  const args = ['--db', `${dir}/rx.db`, '--station', `ST01=${dir}/st01.pem`, '--threads', '1'];
  let rx = await spawnReceiver(args);
  cleanups.push(() => kill(rx.child));
  const proxy = new ChaosProxy({ host: '127.0.0.1', port: rx.port });
  const url = await proxy.listen();
  cleanups.push(() => proxy.close());
  const up = new Uploader({ store, clock: new ManualClock(), config: { url: `${url}/v1/records`, batchSize: 500, timeoutMs: 5000, idleMs: 20, backoff: { initialMs: 20, maxMs: 200, factor: 2, jitter: 0.5 } } });
  cleanups.push(() => up.stop());
  // Kill as soon as a batch is on its way (the proxy sees the request bytes), after a few have gone through.
  let killed = 0;
  up.batches.on((b) => {
    if (b.kind === 'ok' && store.counts().acked >= 1000 && killed === 0) {
      killed = 1;
      setTimeout(() => void kill(rx.child).then(() => (killed = 2)), 5);
    }
  });
  up.start();
  await eventually(() => killed === 2, 40_000, 'receiver killed');
  const ackedAtKill = store.counts().acked;
  assert.ok(ackedAtKill < N, 'killed before the end');
  rx = await spawnReceiver(args);
  proxy.target = { host: '127.0.0.1', port: rx.port };
  await eventually(() => store.counts().pending === 0, 50_000, 'all acknowledged after the restart');
  await up.stop();
  await kill(rx.child);
  assert.ok(up.stats.failures >= 1, 'the kill was felt');
  assert.equal(receivedChainProblems(`${dir}/rx.db`, 'ST01', N, keys.publicKey), []);
});

test('the gateway killed with SIGKILL mid-upload and restarted: the cursor in SQLite resumes, nothing lost or doubled', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  keysInit(dir);
  const N = 4000;
  filledStore(dir, N, loadPrivateKey(dir)).close();
  const pub = toPublicKey(loadPrivateKey(dir));
  const rx = await startReceiver({ dbPath: `${dir}/rx.db`, stations: { ST01: keysInit(dir).publicKeyPem }, verifyThreads: 0 });
  cleanups.push(() => rx.close());
  const startGateway = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./helpers/gateway-proc.ts', import.meta.url).pathname, `${dir}/gw.db`, dir, `${rx.url}/v1/records`], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => kill(child));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('uploading') && resolve());
      child.once('exit', (c) => reject(new Error(`gateway exited ${c}`)));
    });
    return child;
  };
  let gw = await startGateway();
  await eventuallyAsync(async () => (await rx.store.report('ST01')).accepted >= 1000, 40_000, 'upload under way');
  await kill(gw);
  const atKill = (await rx.store.report('ST01')).accepted;
  assert.ok(atKill < N, `killed mid-upload (${atKill} of ${N})`);
  gw = await startGateway();
  await eventuallyAsync(async () => (await rx.store.report('ST01')).accepted === N, 50_000, 'every record after the restart');
  await kill(gw);
  assert.equal(receivedChainProblems(`${dir}/rx.db`, 'ST01', N, pub), []);
  const gwStore = new RecordStore({ db: `${dir}/gw.db`, clock: new ManualClock(), station: 'ST01', privateKey: loadPrivateKey(dir) });
  await eventually(() => gwStore.counts().pending === 0, 20_000, 'gateway cursor at the end');
  const local = verifyRecords(gwStore.db, pub);
  assert.ok(local.ok, formatVerifyReport(local));
  gwStore.close();
});

test.run();
