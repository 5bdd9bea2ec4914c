/**
 * The README's quick start stays true: `npm start` (fillgate demo, through the bin: the compiled
 * build in dist/ when it is current, as `npm ci` leaves it) runs the
 * simulator, the gateway and a receiver, fills and refuses the scripted
 * cylinders, and exits 0 once the regulator holds every record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = new URL('../..', import.meta.url).pathname;

test('the demo prints one line per outcome and ends with every record delivered', async () => {
  const child = spawn(process.execPath, [join(root, 'gateway/cli/fillgate.js'), 'demo'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.is(code, 0, out);
  const lines = out.split('\n');
  const outcome = (code: string) => lines.find((l) => /^P\d /.test(l) && l.includes(code)) ?? '';
  assert.match(outcome('E2000017A1B20001'), /FILLED/);
  assert.match(outcome('E2000017A1B20005'), /FILLED/);
  for (const [code, reason] of [
    ['E2000017A1B20008', 'INSPECTION_OVERDUE'],
    ['E2000017A1B20011', 'NOT_OWN_CYLINDER'],
    ['E2000017A1B20012', 'MEDIUM_MISMATCH'],
    ['E2000017A1B20010', 'SCRAPPED'],
    ['E2000017A1B20003', 'POCKET_CODE_WEIGHT'],
  ]) {
    assert.match(outcome(code), new RegExp(`REFUSED .*${reason}`), `${code}: ${outcome(code)}`);
  }
  const summary = /(\d+) records in .* chain and signatures verify; regulator accepted (\d+), gaps 0/.exec(out);
  assert.ok(summary, out.slice(-500));
  assert.is(summary[1], summary[2]);
  // Where the dashboard is, and that it ends with the demo unless --keep (issue 12 point 8).
  assert.match(out, /dashboard: http:\/\/127\.0\.0\.1:\d+\/ .*\n.*to keep it running: npm start -- --keep/);
});

test('--keep stays up until SIGTERM, which shuts it down like Ctrl-C and removes its folders (and the key in them)', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fg-demo-tmp-'));
  const child = spawn(process.execPath, [join(root, 'gateway/cli/fillgate.js'), 'demo', '--keep'], {
    cwd: root,
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const deadline = Date.now() + 150_000;
  while (!/regulator accepted/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
  assert.match(out, /regulator accepted/);
  assert.ok(readdirSync(tmp).some((d) => d.startsWith('fillgate-demo-')), 'the demo keeps its data while it runs');
  await new Promise((r) => setTimeout(r, 500));
  assert.is(child.exitCode, null, 'still running with --keep');
  // The kept dashboard's /metrics counts the demo's fills and refusals (issue 12 point 8).
  const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
  assert.ok(url, out);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /fillgate_fills_total\{post="P1",outcome="filled"\} [1-9]/, metrics.slice(0, 2000));
  assert.match(metrics, /fillgate_refusals_total\{post="P2",reason="SCRAPPED"\} 1/);
  assert.match(out, /--keep: the dashboard and the simulator stay up/);
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('hung'), 30_000))]);
  if (code === 'hung') child.kill('SIGKILL');
  assert.is(code, 143, out.slice(-800));
  // tsx keeps its compile cache there (tsx-<uid>); nothing of the demo's may stay.
  assert.equal(readdirSync(tmp).filter((d) => !d.startsWith('tsx-')), [], 'nothing left in the temporary folder');
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
