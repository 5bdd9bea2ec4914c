/**
 * Runs every test file (test/**\/*.test.ts) in its own Node process, two at a
 * time, so one file's leftover sockets or a crash cannot hang or poison the
 * others. Prints each file's uvu summary and ends with the plain line
 * `N passed, N failed` that CI reads. Exits 1 on any failure, on a file that
 * crashed or timed out, or when zero tests ran.
 *
 * Usage: npm test [-- substring ...]   (only files whose path contains one of them)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const perFileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 300_000);
const concurrency = Number(process.env.TEST_CONCURRENCY ?? Math.max(1, Math.min(2, cpus().length)));

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

interface Result {
  file: string;
  total: number;
  passed: number;
  skipped: number;
  code: number | null;
  output: string;
  timedOut: boolean;
}

function runFile(file: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, perFileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(output)?.[1] ?? 0);
      resolve({ file, total: num('Total'), passed: num('Passed'), skipped: num('Skipped'), code, output, timedOut });
    });
  });
}

const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const results: Result[] = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const started = Date.now();
    const r = await runFile(file);
    results.push(r);
    const failedHere = r.total - r.passed - r.skipped;
    const ok = r.code === 0 && !r.timedOut && failedHere === 0 && r.total > 0;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${relative(root, file)}  ${r.passed}/${r.total}  ${secs}s${r.timedOut ? '  (timed out)' : ''}`);
    if (!ok) console.log(r.output.split('\n').map((l) => '     | ' + l).join('\n'));
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));

let passed = 0;
let failed = 0;
for (const r of results) {
  passed += r.passed;
  // A file that crashed, timed out or ran nothing counts as at least one failure.
  const failedHere = Math.max(r.total - r.passed - r.skipped, r.code !== 0 || r.timedOut || r.total === 0 ? 1 : 0);
  failed += failedHere;
}
console.log(`\n${files.length} files`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
