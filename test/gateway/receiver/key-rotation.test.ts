/**
 * Key rotation end to end (issue 11 point 5): `fillgate keys rotate --config F` at the station
 * (a child process) against a real receiver, on SQLite and on a real PostgreSQL. The new key is
 * used only after the receiver accepted the handover the old key signed; an unreachable
 * receiver changes nothing at the station; the chain goes on under the new key and the old key's
 * records made before the handover still go in (one made after it is refused: suite.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { uploadConfigSchema } from '../../../gateway/records/config.ts';
import { tryLockDataDir } from '../../../gateway/records/data-lock.ts';
import { startRig } from '../../e2e/rig.ts';
import { keyFingerprint, makeHandover } from '../../../gateway/receiver/keys.ts';
import { HANDOVER_FILE, NEXT_KEY_FILE, handoverUrlFor } from '../../../gateway/records/key-rotation.ts';
import { keysInit, loadPrivateKey, publicKeyPemOf } from '../../../gateway/records/keys.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';
import { makeAttempt, tempDir } from '../records/fixtures.ts';

const root = new URL('../../../', import.meta.url).pathname;
const STATION = 'ST-HN-0001'; // examples/gateway.yaml

function cli(args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    ),
  );
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function rotationTests(test: (name: string, fn: () => Promise<void>) => void, freshDb: () => Promise<string>): void {
  test('fillgate keys rotate: nothing changes while the receiver is away; then the receiver takes the new key and the chain goes on under it', async () => {
    const { dir, cleanup } = tempDir('fg-rotate-');
    const cfg = join(dir, 'gateway.yaml');
    const example = readFileSync(join(root, 'examples/gateway.yaml'), 'utf8').replace(/^dataDir: .*$/m, `dataDir: ${dir}`);
    const withUrl = (url: string) => writeFileSync(cfg, `${example}\nupload:\n  url: ${url}\n`);
    const old = keysInit(dir);
    const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
    const records = new RecordStore({ db: join(dir, 'records.db'), clock, station: STATION, privateKey: loadPrivateKey(dir) });
    const r1 = records.append(makeAttempt(1, { station: STATION }));
    clock.advance(60_000);
    const r2 = records.append(makeAttempt(2, { station: STATION }));
    records.close();
    const rx = await startReceiver({ dbPath: await freshDb(), stations: { [STATION]: old.publicKeyPem }, verifyThreads: 0 });
    try {
      // 1. The receiver cannot be reached: the station keeps its key, the new one waits.
      withUrl(`http://127.0.0.1:${await closedPort()}/v1/records`);
      const away = await cli(['keys', 'rotate', '--config', cfg]);
      assert.is(away.status, 1, away.out);
      assert.match(away.out, /did not accept the handover/);
      assert.is(publicKeyPemOf(loadPrivateKey(dir)), old.publicKeyPem, 'still the old key');
      assert.ok(existsSync(join(dir, NEXT_KEY_FILE)) && existsSync(join(dir, HANDOVER_FILE)), 'the new key and the handover wait in the data dir');
      const waiting = keyFingerprint(JSON.parse(readFileSync(join(dir, HANDOVER_FILE), 'utf8')).newPublicKey);

      // 2. The receiver answers: the same new key is handed over and installed.
      withUrl(`${rx.url}/v1/records`);
      const ok = await cli(['keys', 'rotate', '--config', cfg]);
      assert.is(ok.status, 0, ok.out);
      const now = loadPrivateKey(dir);
      assert.is(keyFingerprint(publicKeyPemOf(now)), waiting, 'the key made by the first run');
      assert.ok(existsSync(join(dir, `station-key.${keyFingerprint(old.publicKeyPem)}.retired.pem`)), 'old private key kept');
      assert.not.ok(existsSync(join(dir, NEXT_KEY_FILE)) || existsSync(join(dir, HANDOVER_FILE)));
      const keys = await rx.store.stationKeys(STATION);
      assert.equal(keys.map((k) => [k.fp, k.via, k.revokedAfterMs !== undefined]), [[waiting, 'handover', false], [keyFingerprint(old.publicKeyPem), 'config', true]]);

      // 3. The station's backlog signed by the old key before the handover goes in; its chain
      //    continues under the new key.
      assert.equal((await rx.store.ingest([r1, r2])).map((r) => r.status), ['accepted', 'accepted']);
      const c2 = new ManualClock(0, Date.now() + 60_000);
      const again = new RecordStore({ db: join(dir, 'records.db'), clock: c2, station: STATION, privateKey: now });
      const r3 = again.append(makeAttempt(3, { station: STATION }));
      again.close();
      assert.equal((await rx.store.ingest([r3])).map((r) => [r.seq, r.status]), [[3, 'accepted']]);
      assert.equal((await rx.store.report(STATION)).gaps, []);

      // 4. The station's own check still verifies the whole chain: the old key from its retired file.
      const v = await cli(['records', 'verify', '--config', cfg]);
      assert.is(v.status, 0, v.out);
      assert.match(v.out, new RegExp(`OK: 3 records verified .*\\nsigned by key ${keyFingerprint(old.publicKeyPem)} \\(seq 1\\.\\.2\\), then key ${waiting} \\(seq 3\\.\\.3\\)`));
    } finally {
      await rx.close();
      cleanup();
    }
  });

  test('a rotation queued while the receiver was away finishes by itself: the running gateway sends the handover before anything signed by the new key; keys rotate refuses to run beside it', async () => {
    const { dir, cleanup } = tempDir('fg-rotate-gw-');
    const cfg = join(dir, 'gateway.yaml');
    const port = await closedPort();
    const recordsUrl = `http://127.0.0.1:${port}/v1/records`;
    const example = readFileSync(join(root, 'examples/gateway.yaml'), 'utf8').replace(/^dataDir: .*$/m, `dataDir: ${dir}`);
    writeFileSync(cfg, `${example}\nupload:\n  url: ${recordsUrl}\n`);
    const old = keysInit(dir);
    const clock = new ManualClock(0, Date.now() - 3_600_000);
    const records = new RecordStore({ db: join(dir, 'records.db'), clock, station: STATION, privateKey: loadPrivateKey(dir) });
    records.append(makeAttempt(1, { station: STATION })); // signed by the old key before the rotation
    records.close();
    // 1. keys rotate while the receiver is away: queued.
    const away = await cli(['keys', 'rotate', '--config', cfg]);
    assert.is(away.status, 1, away.out);
    assert.match(away.out, /start the gateway: it signs with the new key and sends the handover before any upload/);
    const handover = readFileSync(join(dir, HANDOVER_FILE), 'utf8');
    const newFp = keyFingerprint(JSON.parse(handover).newPublicKey);
    // 2. The gateway starts (receiver still away): it holds the data dir, signs with the new key, uploads nothing.
    const rig = await startRig({ dataDir: dir, keepDataDir: true, tweak: (c) => void (c.upload = uploadConfigSchema.parse({ url: recordsUrl, idleMs: 100, backoff: { initialMs: 50, maxMs: 300 } })) });
    let rx: RunningReceiver | undefined;
    try {
      const busy = await cli(['keys', 'rotate', '--config', cfg]);
      assert.is(busy.status, 1, busy.out);
      assert.match(busy.out, new RegExp(`keys rotate refused: a fillgate gateway \\(pid ${process.pid}\\) runs on the data dir`));
      assert.is(readFileSync(join(dir, HANDOVER_FILE), 'utf8'), handover, 'the queued handover is untouched');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(existsSync(join(dir, NEXT_KEY_FILE)), 'not installed while the receiver is away');
      // 3. The receiver comes back (it knows only the old key): handover first, then the backlog and the new key's events.
      rx = await startReceiver({ dbPath: await freshDb(), port, stations: { [STATION]: old.publicKeyPem }, verifyThreads: 0 });
      const live = rx;
      const t0 = Date.now();
      for (;;) {
        const [rep, ev] = [await live.store.report(STATION), await live.events.report(STATION)];
        if (rep.accepted >= 1 && ev.accepted >= 1 && !existsSync(join(dir, HANDOVER_FILE))) break;
        if (Date.now() - t0 > 30_000) throw new Error(`not uploaded: ${JSON.stringify({ rep, ev })}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const keys = await live.store.stationKeys(STATION);
      assert.equal(keys.map((k) => [k.fp, k.via, k.revokedAfterMs !== undefined]), [[newFp, 'handover', false], [keyFingerprint(old.publicKeyPem), 'config', true]]);
      // Events made after the handover's time verify only with the new key: none was refused, nothing went out before the handover.
      const ev = await live.events.report(STATION);
      assert.equal([ev.rejected, (await live.store.report(STATION)).rejected], [0, 0]);
      assert.is(keyFingerprint(publicKeyPemOf(loadPrivateKey(dir))), newFp, 'the gateway installed the new key');
      assert.not.ok(existsSync(join(dir, NEXT_KEY_FILE)));
    } finally {
      await rig.close();
      await rx?.close();
    }
    // 4. The gateway stopped: its lock went with it.
    const lock = tryLockDataDir(dir);
    assert.ok(lock, 'the data dir is free again');
    lock.release();
    cleanup();
  });

  test('the same handover sent twice (the first answer lost) is answered 200 both times and changes nothing more', async () => {
    const { dir, cleanup } = tempDir('fg-rotate2-');
    const a = keysInit(dir);
    const rx = await startReceiver({ dbPath: await freshDb(), stations: { ST01: a.publicKeyPem }, verifyThreads: 0 });
    try {
      const { dir: d2, cleanup: c2 } = tempDir('fg-rotate2b-');
      const b = keysInit(d2);
      c2();
      const h = makeHandover('ST01', loadPrivateKey(dir), b.publicKeyPem, Date.UTC(2026, 3, 1));
      const url = handoverUrlFor(`${rx.url}/v1/records`, 'ST01');
      for (let i = 0; i < 2; i++) assert.is((await fetch(url, { method: 'POST', body: JSON.stringify(h) })).status, 200, `send ${i + 1}`);
      const keys = await rx.store.stationKeys('ST01');
      assert.equal(keys.map((k) => [k.via, k.revokedAfterMs]), [['handover', undefined], ['config', Date.UTC(2026, 3, 1)]]);
      // A different handover signed by the old key after it lost its place is still refused.
      const late = makeHandover('ST01', loadPrivateKey(dir), a.publicKeyPem, Date.UTC(2026, 4, 1));
      assert.is((await fetch(url, { method: 'POST', body: JSON.stringify(late) })).status, 422);
    } finally {
      await rx.close();
      cleanup();
    }
  });
}

const sqlite = suite('key rotation on SQLite');
const files: (() => void)[] = [];
rotationTests((name, fn) => sqlite(name, fn), async () => {
  const t = tempDir('fg-rotate-db-');
  files.push(t.cleanup);
  return join(t.dir, 'rx.db');
});
sqlite.after(() => files.forEach((c) => c()));
sqlite.run();

const postgres = suite('key rotation on PostgreSQL');
const why = missing(INITDB);
let server: TestPostgres | undefined;
let n = 0;
postgres.before(async () => {
  if (!why) server = await startPostgres();
});
postgres.after(async () => {
  await server?.stop();
});
rotationTests(skipIf(postgres, why), async () => server!.createDatabase(`rot${++n}`));
postgres.run();
