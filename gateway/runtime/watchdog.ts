/**
 * systemd integration (examples/fillgate.service: Type=notify, WatchdogSec=20):
 * READY=1 once the station runs, then WATCHDOG=1 every WatchdogSec/2, but only
 * while the gateway is healthy: the event loop answers promptly and every post
 * runtime still processes input. A hung gateway stops pinging and systemd kills
 * and restarts it; meanwhile the relay modules' own comms watchdogs close the
 * valves (devices.md 5), and the restart records the fill as interrupted.
 *
 * Everything is off unless NOTIFY_SOCKET is set (sd_notify(3) semantics;
 * WATCHDOG_PID, when set, must be this process).
 *
 * Node has no unix datagram sockets, so messages go through `systemd-notify`
 * (spawned, --no-block so it does not wait on a barrier). Its process exits at
 * once, so systemd may not attribute the message to the service by cgroup:
 * the unit needs NotifyAccess=all, and `--pid=` names this process as MAINPID.
 *
 * What "processes input" means here: a post runtime is synchronous, so the only
 * way one can be stuck while the loop runs is a step that throws on every input.
 * Each check feeds every post a `tick` (harmless: the controller only acts on
 * deadlines already passed) and counts it as processed when the step returns.
 * A dead scale is not a hung gateway: the post refuses or trips on stale samples
 * by itself, and a restart would not bring the scale back.
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { errorMessage } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';

export interface WatchdogSettings {
  socket: string;
  /** Ping period (ms): half of WATCHDOG_USEC; undefined when systemd set no watchdog. */
  pingMs?: number;
}

/** From the environment systemd gives the service; undefined when not run by systemd with Type=notify. */
export function watchdogSettings(env: NodeJS.ProcessEnv, pid = process.pid): WatchdogSettings | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  const pingMs = Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : undefined;
  return { socket, pingMs };
}

export interface PostProbe {
  id: string;
  /** Feeds the post one harmless input; throws when the post cannot process it. */
  probe(): void;
}

export interface HealthInput {
  /** Longest event-loop delay seen since the last check (ms). */
  loopDelayMs: number;
  maxLoopDelayMs: number;
  /** Posts whose probe failed, with why. */
  stuckPosts: { id: string; error: string }[];
}

/** The pure decision: ping only when the loop and every post are responsive. */
export function watchdogVerdict(h: HealthInput): { ok: true } | { ok: false; reason: string } {
  if (h.loopDelayMs > h.maxLoopDelayMs) return { ok: false, reason: `event loop stalled ${Math.round(h.loopDelayMs)} ms (limit ${h.maxLoopDelayMs} ms)` };
  if (h.stuckPosts.length > 0) return { ok: false, reason: `post ${h.stuckPosts.map((p) => `${p.id} (${p.error})`).join(', ')} not processing input` };
  return { ok: true };
}

export type Notify = (message: string) => Promise<void>;

/** Sends one sd_notify message through systemd-notify; rejects when it cannot be delivered. */
export function systemdNotify(socket: string, pid = process.pid): Notify {
  return (message) =>
    new Promise((resolve, reject) => {
      const child = spawn('systemd-notify', ['--no-block', `--pid=${pid}`, message], { env: { ...process.env, NOTIFY_SOCKET: socket }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`systemd-notify ${message} exited ${code}: ${stderr.trim()}`))));
    });
}

export interface WatchdogOptions {
  env?: NodeJS.ProcessEnv;
  posts: () => Iterable<PostProbe>;
  log?: Logger;
  /** Default: systemd-notify on NOTIFY_SOCKET. */
  notify?: Notify;
  /** A stall longer than this withholds the ping (ms); default 2000: 20 missed polls at 10 Hz. */
  maxLoopDelayMs?: number;
}

export class SystemdWatchdog {
  /** Health checks done and pings sent (for status and tests). */
  checks = 0;
  pings = 0;
  private timer?: NodeJS.Timeout;
  private readonly delay = monitorEventLoopDelay({ resolution: 20 });
  private lastStatus = '';

  constructor(
    readonly settings: WatchdogSettings,
    private readonly opts: WatchdogOptions,
    private readonly notify: Notify = opts.notify ?? systemdNotify(settings.socket),
  ) {}

  /** READY=1, then periodic checks and pings if systemd asked for a watchdog. */
  async ready(): Promise<void> {
    this.lastStatus = 'running';
    await this.send('READY=1\nSTATUS=running');
    if (this.settings.pingMs === undefined) return;
    this.delay.enable();
    this.timer = setInterval(() => void this.check(), this.settings.pingMs);
    this.timer.unref();
  }

  /** One health check; sends WATCHDOG=1 only when healthy. Never throws. */
  async check(): Promise<boolean> {
    this.checks++;
    const loopDelayMs = this.delay.max / 1e6;
    this.delay.reset();
    const stuckPosts: { id: string; error: string }[] = [];
    for (const p of this.opts.posts()) {
      try {
        p.probe();
      } catch (err) {
        stuckPosts.push({ id: p.id, error: errorMessage(err) });
      }
    }
    const verdict = watchdogVerdict({ loopDelayMs, maxLoopDelayMs: this.opts.maxLoopDelayMs ?? 2000, stuckPosts });
    if (!verdict.ok) {
      this.opts.log?.error({ reason: verdict.reason }, 'watchdog ping withheld: systemd will restart the gateway');
      await this.setStatus(`unhealthy: ${verdict.reason}`);
      return false;
    }
    await this.setStatus('running');
    if (await this.send('WATCHDOG=1')) this.pings++;
    return true;
  }

  /** STOPPING=1 on an orderly shutdown, so systemd does not count it as a hang. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.delay.disable();
    await this.send('STOPPING=1');
  }

  private async setStatus(status: string): Promise<void> {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    await this.send(`STATUS=${status}`);
  }

  private async send(message: string): Promise<boolean> {
    try {
      await this.notify(message);
      return true;
    } catch (err) {
      this.opts.log?.warn({ err: errorMessage(err), message }, 'sd_notify failed');
      return false;
    }
  }
}

/** The watchdog for this process, or undefined when not started by systemd (no NOTIFY_SOCKET). */
export function startWatchdog(opts: WatchdogOptions): SystemdWatchdog | undefined {
  const settings = watchdogSettings(opts.env ?? process.env);
  return settings ? new SystemdWatchdog(settings, opts) : undefined;
}

/** Probes for a Station's post runtimes: each gets a tick. */
export function stationProbes(posts: Map<string, { input(i: { kind: 'tick' }): void }>): () => PostProbe[] {
  return () => [...posts].map(([id, rt]) => ({ id, probe: () => rt.input({ kind: 'tick' }) }));
}
