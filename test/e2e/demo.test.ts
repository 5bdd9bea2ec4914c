/**
 * The README's quick start stays true: `npm start` (fillgate demo) runs the
 * simulator, the gateway and a receiver, fills and refuses the scripted
 * cylinders, and exits 0 once the regulator holds every record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

test('the demo prints one line per outcome and ends with every record delivered', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'demo'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
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
});

test.run();
