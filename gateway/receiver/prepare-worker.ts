/** Worker side of the prepare pool (loaded through prepare-worker.js, which registers tsx). */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { prepareLine } from './prepare.ts';

const keys = new Map<string, KeyObject>();

parentPort?.on('message', (msg: { type: 'keys'; keys: Record<string, string> } | { type: 'batch'; id: number; lines: string[] }) => {
  if (msg.type === 'keys') {
    for (const [code, pem] of Object.entries(msg.keys)) keys.set(code, createPublicKey(pem));
    return;
  }
  parentPort?.postMessage({ id: msg.id, results: msg.lines.map((l) => prepareLine(l, (s) => keys.get(s))) });
});
parentPort?.postMessage({ ready: true });
