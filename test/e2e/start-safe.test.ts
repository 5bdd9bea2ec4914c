/**
 * A start that fails must still leave every valve closed (issue 9 point 3;
 * domain.md section 4: de-energise to close). The relay module's own watchdog
 * is OFF here, so a coil that ends OFF was written OFF by the gateway, and the
 * wire log says when: after the process started, before it exited, never ON.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import { closeClient, modbusClient } from '../sim/helpers.ts';
import { assertNoOnAfter, assertReceivedOffAfter, coilWrites, dump, type CoilRef } from '../fixtures/wire-log.ts';
import { exampleConfig } from './rig.ts';
import { spawnGateway } from './gateway-process.ts';

const root = new URL('../..', import.meta.url).pathname;
let sim: Simulator;
let dir: string;
let coils: (CoilRef & { post: string })[];

test.before(async () => {
  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  sim = await startSimulator(doc, { portsFromZero: true, noWatchdog: true });
  dir = mkdtempSync(join(tmpdir(), 'fg-start-safe-'));
  const cfg = exampleConfig();
  coils = cfg.posts.map((p) => ({ post: p.id, unitId: sim.deviceEndpoints()[`${p.id}.valve`]!.unitId!, coil: p.valve.coil }));
});

test.after(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A gateway config on the simulator, with its data dir at `dataDir` (made by `prepare`). */
function configFile(name: string, prepare: (dataDir: string) => void, edit?: (cfg: GatewayConfig) => void): string {
  const cfg: GatewayConfig = wireConfigToSim(exampleConfig(), sim.deviceEndpoints());
  cfg.dataDir = join(dir, name, 'data');
  cfg.http.port = 0;
  edit?.(cfg);
  mkdirSync(join(dir, name), { recursive: true });
  prepare(cfg.dataDir);
  const file = join(dir, name, 'gateway.yaml');
  writeFileSync(file, stringify(cfg));
  return file;
}

/** Every valve coil ON, written from outside as an earlier gateway that died mid-fill would have left it. */
async function energiseEveryValve(): Promise<void> {
  const c = await modbusClient(sim.endpoints()['P1.valve']!, 'tcp');
  try {
    for (const v of coils) {
      c.setID(v.unitId);
      await c.writeCoil(v.coil, true);
    }
  } finally {
    await closeClient(c);
  }
  for (const v of coils) assert.ok(coilState(v), `${v.post} coil ON before the gateway starts`);
}

const coilState = (v: CoilRef) => sim.state().relays.find((r) => r.unitId === v.unitId)!.coils[v.coil];

async function failedStart(name: string, prepare: (dataDir: string) => void, reason: RegExp, edit?: (cfg: GatewayConfig) => void): Promise<string> {
  const file = configFile(name, prepare, edit);
  await energiseEveryValve();
  const t0 = performance.now();
  const gw = spawnGateway(file);
  const { code } = await gw.exited(40_000);
  const t1 = performance.now();
  assert.is(code, 1, `exit code ${code}, expected 1:\n${gw.output}`);
  const log = sim.wire.entries();
  for (const v of coils) {
    const off = assertReceivedOffAfter(log, v, t0, `${name}: ${v.post}`);
    assert.ok(off.t <= t1, `${name}: ${v.post}: the OFF came after the process exited\n${dump(log, v)}`);
    assertNoOnAfter(log, v, t0, `${name}: ${v.post}`);
    assert.is(coilState(v), false, `${name}: ${v.post} coil left ON`);
  }
  assert.match(gw.output, /start failed/, gw.output);
  // The second OFF (after the failure) is in the log; on the wire it cannot be told from the first.
  assert.match(gw.output, /"why":"start failed"[^\n]*every valve coil written OFF/);
  assert.match(gw.output, reason, `the reason is printed:\n${gw.output}`);
  return gw.output;
}

test('a corrupt records.db: start fails, non-zero, reason printed, every coil written OFF', async () => {
  await failedStart('corrupt-records', (d) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'records.db'), Buffer.from('this is not an SQLite file, just garbage '.repeat(200)));
  }, /records\.db.*not a database|not a database.*records\.db/s);
});

test('the signing key path is a directory: start fails with the key path, every coil written OFF', async () => {
  await failedStart('key-is-dir', (d) => mkdirSync(join(d, 'station-key.pem'), { recursive: true }), /cannot read the station signing key \S*station-key\.pem: EISDIR/);
});

test('the signing key file is not a key: start fails with the key path, every coil written OFF', async () => {
  await failedStart('key-garbage', (d) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'station-key.pem'), '-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n');
  }, /station-key\.pem is not a PEM private key/);
});

test('the data dir is a regular file (fails even as root): start fails, every coil written OFF', async () => {
  await failedStart('datadir-is-file', (d) => writeFileSync(d, 'not a directory'), /ENOTDIR|EEXIST|not a directory|file already exists/);
});

test('the http port is taken: start refuses (exit 1, step and reason printed), no post starts, every coil written OFF, never ON', async () => {
  // Another program on the port, as a second gateway or a stray web server would be (issue 14).
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  const port = (squatter.address() as AddressInfo).port;
  try {
    const out = await failedStart('http-port-taken', () => undefined, new RegExp(`start failed while binding the http port 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`), (cfg) => {
      cfg.http.host = '127.0.0.1';
      cfg.http.port = port;
    });
    assert.match(out, /fillgate: start failed while binding the http port[^\n]*every valve was written OFF/, 'the one-line reason on stderr');
    // Refused before the databases and the posts: not half-up.
    assert.not.match(out, /"msg":"station started"/);
    assert.not.match(out, /status and metrics served/);
  } finally {
    await new Promise((r) => squatter.close(r));
  }
});

test('a second gateway on a data dir another one holds: refuses before touching any valve, names the holder', async () => {
  const { tryLockDataDir } = await import('../../gateway/records/data-lock.ts');
  let lock: ReturnType<typeof tryLockDataDir>;
  const file = configFile('held', (d) => {
    mkdirSync(d, { recursive: true });
    lock = tryLockDataDir(d, 'gateway'); // as the running gateway holds it (this process)
  });
  assert.ok(lock!, 'the test holds the lock');
  await energiseEveryValve(); // a fill of the running gateway in progress on every post
  const t0 = performance.now();
  try {
    const gw = spawnGateway(file);
    const { code } = await gw.exited(40_000);
    assert.ok(code !== 0 && code !== null, `exit code ${code}:\n${gw.output}`);
    assert.match(gw.output, new RegExp(`not starting: a fillgate gateway \\(pid ${process.pid}\\) runs on the data dir`), gw.output);
    assert.match(gw.output, /no valve was touched: they belong to the gateway running on this data dir/);
    const log = sim.wire.entries();
    for (const v of coils) {
      assert.is(coilWrites(log, v).filter((w) => w.t >= t0).length, 0, `${v.post}: the refused gateway wrote the coil\n${dump(log, v)}`);
      assert.ok(coilState(v), `${v.post}: still ON, the running gateway's`);
    }
  } finally {
    lock!.release();
  }
});

test('a normal start: the first write to every valve coil is OFF, and no ON follows', async () => {
  const file = configFile('normal', () => undefined);
  await energiseEveryValve();
  const t0 = performance.now();
  const gw = spawnGateway(file);
  try {
    await gw.started();
    // SIGTERM is handled once the status server is up; before that it would just kill the process.
    await gw.logged('status and metrics served');
    const log = sim.wire.entries();
    for (const v of coils) {
      const writes = coilWrites(log, v).filter((w) => w.t >= t0);
      assert.ok(writes.length > 0, `${v.post}: no write to the coil since start\n${dump(log, v)}`);
      assert.is(writes[0]!.on, false, `${v.post}: the first write after start is ON\n${dump(log, v)}`);
      assertNoOnAfter(log, v, t0, `normal start: ${v.post}`);
      assert.is(coilState(v), false);
    }
  } finally {
    gw.child.kill('SIGTERM');
    const { code } = await gw.exited();
    assert.is(code, 0, gw.output);
  }
});

test('an unreachable relay module does not block the start for ever: the OFF wait is bounded and the reason logged', async () => {
  const port = await closedPort();
  const file = configFile('relay-unreachable', () => undefined);
  const cfg = parseYaml(readFileSync(file, 'utf8')) as GatewayConfig;
  const relayBus = cfg.posts[0]!.valve.bus;
  cfg.buses[relayBus]!.url = `modbus-tcp://127.0.0.1:${port}`;
  writeFileSync(file, stringify(cfg));
  const t0 = Date.now();
  const gw = spawnGateway(file);
  try {
    await gw.started(30_000);
    const tookMs = Date.now() - t0;
    // Bounds in valves-first.ts: 3 s for the bus, 2.5 s for the OFF; the rest is process start-up on a busy machine.
    assert.ok(tookMs < 15_000, `start took ${tookMs} ms`);
    assert.match(gw.output, /valve bus did not open/);
    assert.match(gw.output, /P1\.valve: OFF not confirmed/);
    await gw.logged('status and metrics served');
  } finally {
    gw.child.kill('SIGTERM');
    await gw.exited();
  }
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test.run();
