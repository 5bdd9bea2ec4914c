/**
 * Ed25519 verification is the receiver's bottleneck (~150-175 µs per verify
 * on the 2-core test machine; `openssl speed ed25519` gives ~6,100 verify/s
 * per core). A worker pool spreads a batch's parse + canonical form + hash +
 * verify over the cores, leaving only SQL on the main thread, so catch-up after
 * an outage can reach the 5,000 records/s goal (issue 5 §6).
 * threads = 0 works inline; a worker failure falls back to inline.
 */
import { createPublicKey } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { prepareLine, type Prepared, type StationKey } from './prepare.ts';

export class PreparePool {
  private workers: Worker[] = [];
  private pending = new Map<number, { resolve: (r: Prepared[]) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private keys = new Map<string, StationKey[]>();
  workerErrors = 0;
  /** Resolves when every worker has loaded (or the pool fell back to inline). */
  readonly ready: Promise<void>;

  constructor(threads: number) {
    const loaded: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./prepare-worker.js', import.meta.url));
      loaded.push(
        new Promise<void>((resolve) => {
          w.once('message', () => resolve());
          w.once('error', () => resolve());
          w.once('exit', () => resolve());
        }),
      );
      w.on('message', (m: { id: number; results: Prepared[]; ready?: true }) => {
        if (m.ready) return;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.results);
      });
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
    }
    this.ready = Promise.all(loaded).then(() => undefined);
  }

  /** Replace the keys of the stations named (current key first). */
  setKeys(keys: Record<string, { fp: string; pem: string }[]>): void {
    for (const [code, list] of Object.entries(keys)) this.keys.set(code, list.map((k) => ({ fp: k.fp, key: createPublicKey(k.pem) })));
    for (const w of this.workers) w.postMessage({ type: 'keys', keys });
  }

  /**
   * Start preparing `lines` in chunks spread over the workers; the promises
   * resolve in any order, so the caller can commit chunk 1 while the workers
   * still verify chunk 2 (SQL and signature checks overlap).
   */
  prepareChunks(lines: string[], chunkSize = 250): Promise<Prepared[]>[] {
    const chunks: string[][] = [];
    for (let i = 0; i < lines.length; i += chunkSize) chunks.push(lines.slice(i, i + chunkSize));
    if (this.workers.length === 0) return chunks.map((c) => Promise.resolve(this.inline(c)));
    return chunks.map((c, i) => this.send(this.workers[i % this.workers.length], c).catch(() => this.inline(c)));
  }

  async prepareAll(lines: string[]): Promise<Prepared[]> {
    if (this.workers.length === 0 || lines.length < 32) return this.inline(lines);
    const size = Math.ceil(lines.length / this.workers.length);
    try {
      const parts = this.workers.map((w, i) => this.send(w, lines.slice(i * size, (i + 1) * size)));
      return (await Promise.all(parts)).flat();
    } catch {
      return this.inline(lines);
    }
  }

  private inline(lines: string[]): Prepared[] {
    return lines.map((l) => prepareLine(l, (s) => this.keys.get(s)));
  }

  private send(w: Worker, lines: string[]): Promise<Prepared[]> {
    if (lines.length === 0) return Promise.resolve([]);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ type: 'batch', id, lines });
    });
  }

  private fail(err: Error): void {
    this.workerErrors++;
    const workers = this.workers;
    this.workers = [];
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of workers) void w.terminate();
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    for (const p of this.pending.values()) p.reject(new Error('prepare pool closed'));
    this.pending.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
