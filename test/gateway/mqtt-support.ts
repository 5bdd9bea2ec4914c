/**
 * Shared helpers for the MQTT tests: poll-until (never fixed sleeps), a mosquitto started
 * on a loopback port from a temp config, and small device configs with real scrypt hashes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import type { BrokerConfig, DeviceKind } from '../../gateway/mqtt/config.ts';

export async function eventually(cond: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export { freePort } from '../fixtures/free-port.ts';

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

/** A mosquitto on 127.0.0.1:port; stop() and start() again on the same port (broker restart). */
export class Mosquitto {
  private proc?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'fillgate-mosq-'));
  constructor(readonly port: number, private persistence = true) {
    // max_queued_messages 0 = unlimited: Debian's default of 1000 silently drops QoS1 (engineering.md).
    // `user root`: started as root (CI, these machines), mosquitto drops to the `mosquitto` user, which cannot
    // write this 0700 temp dir: every save failed with "Permission denied", so a restart lost every session
    // and every message queued in it. Staying root keeps the dir private and writable (mosquitto.conf(5):
    // `user` only matters when started as root).
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 0', 'max_inflight_messages 0',
        ...(process.getuid?.() === 0 ? ['user root'] : []), `persistence ${persistence}`, `persistence_location ${this.dir}/`, 'autosave_interval 1', 'log_type none', ''].join('\n'),
    );
  }
  /** The running broker's process id (the bench reads its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (Date.now() > until) throw new Error('mosquitto did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
    this.proc = undefined;
    // mosquitto saves its database on SIGTERM and says nothing when it cannot (log_type none): a restart
    // "with persistence" that restores nothing must fail here, not as messages missing somewhere else.
    if (this.persistence && !existsSync(join(this.dir, 'mosquitto.db'))) {
      throw new Error(`mosquitto did not save its persistence database in ${this.dir}: a restart would lose every session`);
    }
  }
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Low-cost hashes for tests (N=1024) so a storm of CONNECTs is not a scrypt benchmark. */
export function deviceConfigs(list: [string, DeviceKind, string?][]): { devices: BrokerConfig['devices']; passwords: Record<string, string> } {
  const passwords: Record<string, string> = {};
  const devices = list.map(([id, kind, location]) => {
    passwords[id] = `pw-${id}`;
    return { id, kind, location, passwordHash: hashPassword(`pw-${id}`, 1024) };
  });
  return { devices, passwords };
}

export function brokerConfig(devices: BrokerConfig['devices'], extra: Partial<BrokerConfig> = {}): BrokerConfig {
  return { host: '127.0.0.1', port: 0, devices, thread: 'main', penalty: { maxRejections: 3, windowMs: 60_000, baseMs: 2_000, maxMs: 60_000 }, ...extra };
}

/** A TCP proxy whose link can be cut (every socket destroyed, new ones refused) and restored: a WAN outage. */
export class TcpProxy {
  private server = createServer((inbound) => this.onConnection(inbound));
  private sockets = new Set<import('node:net').Socket>();
  private up = true;
  port = 0;
  constructor(private targetPort: number) {}
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }
  private onConnection(inbound: import('node:net').Socket): void {
    if (!this.up) return void inbound.destroy();
    const outbound = connect(this.targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  }
  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }
  restore(): void {
    this.up = true;
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
