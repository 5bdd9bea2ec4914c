/**
 * The gateway under soak as a child process (`fillgate start --config`), so it
 * can be SIGKILLed mid-fill. Its valve decisions are not visible from here:
 * the span it runs is marked `wireOnly` (soak-check.ts derives attempts from
 * the wire there), a SIGKILL is a close decision no gateway can carry out
 * (excused from the bound until the restarted gateway writes OFF), and the
 * operators read its phases from GET /status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import type { GatewayTrace } from './soak-gateway.ts';
import { freePort } from '../fixtures/free-port.ts';

const root = new URL('../..', import.meta.url).pathname;

export class ChildGateway {
  private proc: ChildProcess | undefined;
  private phases = new Map<string, { phase: string; grossKg?: number }>();
  private poller: NodeJS.Timeout | undefined;
  private url = '';
  private since: number | undefined;

  constructor(
    private readonly config: GatewayConfig,
    private readonly dir: string,
    private readonly trace: GatewayTrace,
    private readonly posts: string[],
  ) {}

  phase(post: string): string {
    return this.phases.get(post)?.phase ?? 'none';
  }

  grossKg(post: string): number | undefined {
    return this.phases.get(post)?.grossKg;
  }

  async start(): Promise<void> {
    const file = join(this.dir, 'gateway-child.yaml');
    const cfg = { ...this.config, log: { level: 'info' as const, levels: { link: 'warn' as const } }, http: { ...this.config.http, port: await freePort() } };
    writeFileSync(file, stringify(cfg));
    this.since = performance.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'start', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    // Never leave a gateway behind if this process dies first.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`child gateway did not start: ${out.slice(-2000)}`)), 60_000);
      const on = (d: Buffer) => {
        out += d;
        const m = /"url":"(http:[^"]+)".*status and metrics served/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      };
      proc.stdout!.on('data', on);
      proc.stderr!.on('data', on);
      proc.once('exit', (code) => reject(new Error(`child gateway exited ${code}: ${out.slice(-2000)}`)));
    });
    proc.stdout!.removeAllListeners('data');
    proc.stdout!.resume();
    this.poller = setInterval(() => void this.poll(), 100);
  }

  private async poll(): Promise<void> {
    try {
      const res = await fetch(`${this.url}/status`);
      const s = (await res.json()) as { posts: { id: string; phase: string; grossKg?: number }[] };
      for (const p of s.posts) this.phases.set(p.id, { phase: p.phase, grossKg: p.grossKg });
    } catch {
      // Between a kill and the restart there is nobody to ask.
    }
  }

  /** SIGKILL: nothing closes the valves (the simulator's watchdog is off); the restart must start closed. */
  async kill(): Promise<void> {
    const t = performance.now();
    for (const post of this.posts) this.trace.decisions.push({ post, t, kind: 'close', reason: 'gateway killed', killed: true });
    await this.end('SIGKILL');
  }

  /**
   * SIGTERM: the gateway closes every valve on its way out, after its HTTP server and systemd watchdog
   * (process shutdown, not a valve decision: excused from the bound, but the OFF must come).
   */
  async stop(): Promise<void> {
    const t = performance.now();
    for (const post of this.posts) this.trace.decisions.push({ post, t, kind: 'close', reason: 'gateway SIGTERM', killed: true });
    await this.end('SIGTERM');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    clearInterval(this.poller);
    this.phases.clear();
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    }
    // One span per process: each start is checked for writing OFF before any ON.
    if (this.since !== undefined) this.trace.wireOnly.push({ from: this.since, to: performance.now() });
    this.since = undefined;
  }
}
