/** Start the receiver's runnable entry as a child process; resolves with its URL. */
import { spawn, type ChildProcess } from 'node:child_process';

export const receiverMain = new URL('../../../../gateway/receiver/main.ts', import.meta.url).pathname;

export async function spawnReceiver(args: string[]): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', receiverMain, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}: ${out}`)));
  });
  return { child, url, port: Number(new URL(url).port) };
}

export function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}
