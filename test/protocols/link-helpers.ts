/**
 * Shared by the link and Modbus tests: socat pty pairs (a serial line with two
 * ends, like a USB adapter wired to a device) and polling waits that tolerate
 * a busy 2-core machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../../protocols/clock.ts';

/** Polls until cond() holds; throws with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export class PtyPair {
  readonly dir = mkdtempSync(join(tmpdir(), 'fillgate-pty-'));
  readonly a = join(this.dir, 'a');
  readonly b = join(this.dir, 'b');
  private proc: ChildProcess | undefined;

  /** Starts socat and waits until both pty links exist. */
  async start(): Promise<void> {
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], {
      stdio: 'ignore',
    });
    this.proc = proc;
    await waitFor(() => existsSync(this.a) && existsSync(this.b), 'socat pty links');
  }

  /** Kills socat (both ends vanish, like an unplugged adapter) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    await exited;
    await waitFor(() => !existsSync(this.a), 'socat pty links to vanish');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A free TCP port on loopback (for servers that must come back on the same port). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
