/** Worker side of the prepare pool (loaded through prepare-worker.js, which registers tsx). */
import { createPublicKey } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { prepareLine, type StationKey } from './prepare.ts';

const keys = new Map<string, StationKey[]>();

parentPort?.on('message', (msg: { type: 'keys'; keys: Record<string, { fp: string; pem: string }[]> } | { type: 'batch'; id: number; lines: string[] }) => {
  if (msg.type === 'keys') {
    for (const [code, list] of Object.entries(msg.keys)) keys.set(code, list.map((k) => ({ fp: k.fp, key: createPublicKey(k.pem) })));
    return;
  }
  parentPort?.postMessage({ id: msg.id, results: msg.lines.map((l) => prepareLine(l, (s) => keys.get(s))) });
});
parentPort?.postMessage({ ready: true });
