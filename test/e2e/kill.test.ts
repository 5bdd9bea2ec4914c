/**
 * The gateway process killed with SIGKILL mid-fill (issue 3 point 8): the relay
 * module's comms watchdog closes the valve by itself, and the restarted gateway
 * starts with the valve commanded closed and writes the interrupted fill's record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import { exampleConfig } from './rig.ts';

const root = new URL('../..', import.meta.url).pathname;
const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

let sim: Simulator;
let dir: string;
let cfgFile: string;
let gateway: ChildProcess | undefined;

function startGateway(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'start', '--config', cfgFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 30_000);
    const on = (d: Buffer) => {
      out += d;
      if (out.includes('station started')) {
        clearTimeout(t);
        resolve(child);
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
  });
}

const until = async (what: string, fn: () => boolean, ms = 20_000) => {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const p1 = () => sim.state().posts.find((p) => p.id === 'P1')!;

test.before(async () => {
  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  sim = await startSimulator(doc, { portsFromZero: true, ptyDir: mkdtempSync(join(tmpdir(), 'fg-pty-')) });
  dir = mkdtempSync(join(tmpdir(), 'fg-kill-'));
  const cfg = wireConfigToSim(exampleConfig(), sim.deviceEndpoints());
  cfg.dataDir = join(dir, 'data');
  cfg.http.port = 0;
  cfg.fill.autoStart = true;
  cfgFile = join(dir, 'gateway.yaml');
  writeFileSync(cfgFile, stringify(cfg));
  for (const [what, file] of [['cylinders', 'examples/cylinders.csv'], ['operators', 'examples/operators.csv']]) {
    const r = cli(['registry', 'import', '--config', cfgFile, what, join(root, file)]);
    assert.is(r.status, 0, r.stdout + r.stderr);
  }
});

test.after(async () => {
  gateway?.kill('SIGKILL');
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL mid-fill: the watchdog closes the valve, the restart records the fill as interrupted', async () => {
  gateway = await startGateway();
  const code = 'E2000017A1B20006'; // YSP118: a long fill
  sim.place('P1', code);
  await until('scale loaded', () => p1().scale.grossKg > 1);
  sim.scan('P1', code);
  await new Promise((r) => setTimeout(r, 1500));
  sim.badge('P1', 'B1001');
  await until('valve open and gas flowing', () => p1().valve.open, 20_000);
  await new Promise((r) => setTimeout(r, 1000));
  gateway.kill('SIGKILL');
  const killedAt = Date.now();
  // The relay module's 2 s comms watchdog (examples/station.yaml) de-energises the coil.
  await until('watchdog closed the valve', () => !p1().valve.open, 6000);
  const closedAfterMs = Date.now() - killedAt;
  assert.ok(closedAfterMs < 4000, `closed ${closedAfterMs} ms after the kill`);

  gateway = await startGateway();
  assert.is(p1().valve.coil, false, 'the restarted gateway keeps the valve closed');
  const exported = cli(['records', 'export', '--config', cfgFile, '--format', 'json']);
  assert.is(exported.status, 0, exported.stderr);
  const records = JSON.parse(exported.stdout) as { cylinderCode?: string; outcome: string; trips: { code: string }[] }[];
  const rec = records.find((r) => r.cylinderCode === code);
  assert.ok(rec, `no record for ${code}: ${exported.stdout.slice(0, 300)}`);
  assert.is(rec.outcome, 'interrupted');
  assert.ok(rec.trips.some((t) => t.code === 'PROCESS_INTERRUPTED'));
  const verify = cli(['records', 'verify', '--config', cfgFile]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
  gateway.kill('SIGTERM');
  await new Promise((r) => gateway!.once('exit', r));
  gateway = undefined;
});

test.run();
