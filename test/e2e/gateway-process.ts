/**
 * `fillgate start` as a child process, the way systemd runs it: tests that kill
 * it, or make its start fail, watch its output and its exit from outside.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

export interface GatewayProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  readonly output: string;
  /** Resolves once it logged "station started"; rejects if it exits first or after timeoutMs. */
  started(timeoutMs?: number): Promise<void>;
  /** Resolves once the output contains `text`; rejects if it exits first or after timeoutMs. */
  logged(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal); rejects after timeoutMs. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnGateway(cfgFile: string): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'start', '--config', cfgFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const onData = (d: Buffer) => (out += d);
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exitP = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  const wait = async <T>(what: string, check: () => T | undefined, ms: number): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (Date.now() - t0 > ms) throw new Error(`gateway: timed out after ${ms} ms waiting for ${what}\n${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return {
    child,
    get output() {
      return out;
    },
    started(ms = 30_000) {
      return this.logged('station started', ms);
    },
    async logged(text: string, ms = 30_000) {
      await wait(`"${text}"`, () => {
        if (out.includes(text)) return true;
        if (exit) throw new Error(`gateway exited ${exit.code ?? exit.signal} before it logged "${text}":\n${out}`);
        return undefined;
      }, ms);
    },
    async exited(ms = 30_000) {
      await wait('exit', () => exit, ms);
      // Let the last output chunks arrive.
      await new Promise((r) => setTimeout(r, 50));
      return exitP;
    },
  };
}
