/**
 * Runs every test file (test/**\/*.test.ts) in its own Node process, two at a
 * time, so one file's leftover sockets or a crash cannot hang or poison the
 * others. Prints each file's uvu summary and ends with the plain line
 * `N passed, N failed, N skipped` that CI reads. Exits 1 on any failure, on a
 * file that crashed or timed out, or when zero tests ran.
 *
 * Honest counts (issue 12 point 1):
 * - a skipped test (test/fixtures/needs.ts) is listed by name with its reason
 *   and counted as skipped, never as passed; with CI=true it counts as failed;
 * - a leftover `.only(` in a test file fails the run (uvu would run only it);
 * - only uvu's final summary (the last lines of the output) is read, so a test
 *   that prints "Total:" cannot change the count.
 *
 * Usage: npm test [-- substring ...]   (only files whose path contains one of them)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cpus, tmpdir } from 'node:os';
import { preflight } from './preflight.ts';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const perFileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 300_000);
const concurrency = Number(process.env.TEST_CONCURRENCY ?? Math.max(1, Math.min(2, cpus().length)));
const ci = process.env.CI === 'true' || process.env.CI === '1';
const SKIP_MARK = '##skip##';

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
  /** Skipped tests named by their marker lines: "name: reason". */
  skips: string[];
  code: number | null;
  output: string;
  timedOut: boolean;
}

function runFile(file: string): Promise<Result> {
  // Each file gets its own TMPDIR, removed when the file ends (crashed or killed ones too): pty
  // links, data dirs with signing keys and screenshots never outlive the run (issue 12 point 3).
  const tmp = mkdtempSync(join(tmpdir(), 'fillgate-test-'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', TMPDIR: tmp },
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
      rmSync(tmp, { recursive: true, force: true });
      const s = summaryOf(output);
      const skips = [...output.matchAll(new RegExp(`^${SKIP_MARK} (.*) ## (.*)$`, 'gm'))].map((m) => `${m[1]}: ${m[2]}`);
      resolve({ file, ...s, skips, code, output, timedOut });
    });
  });
}

/**
 * uvu's summary is the last thing it prints: Total, Passed, Skipped and
 * Duration on consecutive lines. Only the last such block counts (it comes
 * after every test's own output; stderr of a child may still follow it).
 */
function summaryOf(output: string): { total: number; passed: number; skipped: number } {
  const blocks = [...output.matchAll(/^\s*Total:\s+(\d+)\r?\n\s*Passed:\s+(\d+)\r?\n\s*Skipped:\s+(\d+)\r?\n\s*Duration:\s+[\d.]+m?s\s*$/gm)];
  const m = blocks[blocks.length - 1];
  if (!m) return { total: 0, passed: 0, skipped: 0 };
  return { total: Number(m[1]), passed: Number(m[2]), skipped: Number(m[3]) };
}

/** A `.only(` left in a test file: uvu would run only that test and report the file green. */
function leftoverOnly(file: string): boolean {
  return /\.only\s*\(/.test(readFileSync(file, 'utf8').replace(/\/\/.*$/gm, ''));
}

// TEST_DIR: another folder to run (test/unit/runner.test.ts runs the fixtures in test/.runner-fixtures).
// Debian tools first: installed when run as root, else listed with a non-zero exit (test/preflight.ts).
if (!process.env.TEST_DIR) preflight();
const files = walk(process.env.TEST_DIR ?? join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const results: Result[] = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const started = Date.now();
    const only = leftoverOnly(file);
    const r = only ? { file, total: 1, passed: 0, skipped: 0, skips: [], code: 1, output: 'a .only( is left in this file', timedOut: false } : await runFile(file);
    results.push(r);
    // uvu's Total does not include skipped tests.
    const failedHere = r.total - r.passed;
    const ok = r.code === 0 && !r.timedOut && failedHere === 0 && r.total + r.skipped > 0 && !(ci && r.skipped > 0);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const skipNote = r.skipped ? `  (${r.skipped} skipped)` : '';
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${relative(root, file)}  ${r.passed}/${r.total}${skipNote}  ${secs}s${r.timedOut ? '  (timed out)' : ''}${only ? '  (.only left in the file)' : ''}`);
    for (const s of r.skips) console.log(`     skipped: ${s}`);
    if (!ok) console.log(r.output.split('\n').map((l) => '     | ' + l).join('\n'));
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));

let passed = 0;
let failed = 0;
let skipped = 0;
const skippedNames: string[] = [];
for (const r of results) {
  passed += r.passed;
  // A file that crashed, timed out or ran nothing counts as at least one failure.
  const failedHere = Math.max(r.total - r.passed, r.code !== 0 || r.timedOut || r.total + r.skipped === 0 ? 1 : 0);
  failed += failedHere;
  // Under CI a skip is a failure: CI must prove every end-to-end test ran.
  if (ci) failed += r.skipped;
  else skipped += r.skipped;
  skippedNames.push(...r.skips.map((s) => `${relative(root, r.file)}: ${s}`));
}
console.log(`\n${files.length} files`);
if (skippedNames.length) console.log(`${ci ? 'skipped (counted as failed under CI)' : 'skipped'}:\n${skippedNames.map((s) => `  ${s}`).join('\n')}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
