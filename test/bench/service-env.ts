/**
 * The environment the shipped systemd unit gives the gateway (examples/fillgate.service, its
 * `Environment=` lines), so the benches measure `fillgate start` as a station runs it: the
 * memory settings there (a small young generation, two malloc arenas) are part of what is
 * measured (issue 14 point 4). BENCH_NO_SERVICE_ENV=1 runs without them, for comparison.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/** `Environment=` lines of a unit file, one `NAME=value` each (quotes and several per line not used there). */
export function unitEnvironment(unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unit.split('\n')) {
    const m = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export function serviceEnv(): Record<string, string> {
  if (process.env.BENCH_NO_SERVICE_ENV === '1') return {};
  return unitEnvironment(readFileSync(join(root, 'examples/fillgate.service'), 'utf8'));
}
