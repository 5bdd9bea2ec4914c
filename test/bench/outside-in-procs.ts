/**
 * The outside-in bench's processes: the simulator (sim/main.ts), the gateway
 * (`fillgate start`, gateway/cli/fillgate.js) and the naive controller, each
 * its own Node process; a sampler of a process's CPU and RSS from /proc (the
 * way `top` sees it, not the process's own word), and a poller of a
 * controller's /status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

export interface Proc {
  child: ChildProcess;
  /** Date.now() just before the spawn. */
  spawnedAt: number;
  readonly output: string;
  /** Resolves with the first match of `re` in the output (rejects on exit or after ms). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

export function spawnNode(args: string[], name: string, env: Record<string, string> = {}): Proc {
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  const keep = (d: Buffer) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  // Never leave a child behind if the bench dies first.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exit.then(() => process.off('exit', reap));
  return {
    child,
    spawnedAt,
    get output() {
      return out;
    },
    async waitFor(re, ms = 60_000) {
      const t0 = Date.now();
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (exited) throw new Error(`${name} exited before printing ${re}:\n${out.slice(-3000)}`);
        if (Date.now() - t0 > ms) throw new Error(`${name}: nothing matching ${re} after ${ms} ms:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
    },
  };
}

export const simArgs = (stationFile: string) => ['--import', 'tsx', join(root, 'sim/main.ts'), '--station', stationFile, '--ports-from-zero', '--json'];
export const fillgateArgs = (...args: string[]) => [join(root, 'gateway/cli/fillgate.js'), ...args];
export const naiveArgs = (...args: string[]) => ['--import', 'tsx', join(root, 'test/bench/outside-in-naive.ts'), ...args];

/** Runs `fillgate …` to its end; throws with its output unless it exits 0. */
export async function fillgate(...args: string[]): Promise<string> {
  const p = spawnNode(fillgateArgs(...args), `fillgate ${args[0]}`);
  const code = await new Promise<number | null>((r) => p.child.once('exit', r));
  if (code !== 0) throw new Error(`fillgate ${args.join(' ')} exited ${code}:\n${p.output}`);
  return p.output;
}

const TICK = 100; // USER_HZ: /proc/<pid>/stat counts clock ticks of 1/100 s on Linux

export interface ProcSample {
  t: number;
  cpuS: number;
  rssMB: number;
}

/** Samples a pid's CPU time and RSS every `everyMs` until stopped. */
export function sampleProc(pid: number, everyMs = 1000): { samples: ProcSample[]; stop(): void } {
  const samples: ProcSample[] = [];
  const take = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuS = (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14, 15)
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      samples.push({ t: Date.now(), cpuS, rssMB: Number(rss?.[1] ?? NaN) / 1024 });
    } catch {
      // gone
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return { samples, stop: () => (clearInterval(timer), take()) };
}

export interface StatusPost {
  id: string;
  phase: string;
  grossKg?: number;
  reason?: string;
}
export interface LoopSnap {
  /** Date.now() when it was read. */
  t: number;
  p99Ms: number;
  maxMs: number;
  worstMs: number;
}

/** Polls a controller's GET /status every 200 ms, as `fillgate wait` does: one poller for all the operators. */
export function pollStatus(url: string, everyMs = 200) {
  const posts = new Map<string, StatusPost>();
  const loop: LoopSnap[] = [];
  let stopped = false;
  let failures = 0;
  const tick = async () => {
    while (!stopped) {
      try {
        const s = (await (await fetch(`${url}/status`)).json()) as { posts: StatusPost[]; eventLoop?: Omit<LoopSnap, 't'> };
        for (const p of s.posts) posts.set(p.id, p);
        if (s.eventLoop) loop.push({ ...s.eventLoop, t: Date.now() });
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  const done = tick();
  return {
    posts,
    loop,
    get failures() {
      return failures;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}
