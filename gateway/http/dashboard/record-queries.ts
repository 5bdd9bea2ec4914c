/**
 * The records screen's searches, answered by one long-lived worker thread
 * (query-worker.ts) so a slow filter never holds the posts' event loop. Started on
 * the first search, stopped with the dashboard. A database without a file (tests
 * with ':memory:') is searched on this thread.
 */
import { Worker } from 'node:worker_threads';
import { FillgateError, type ErrorCode } from '../../../protocols/errors.ts';
import type { Db } from '../../records/db.ts';
import type { FillRecordV1 } from '../../records/record.ts';
import { findRecords, type RecordQuery } from './records.ts';

type Found = { total: number; records: FillRecordV1[] };

export class RecordQueries {
  private worker?: Worker;
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: Found) => void; reject: (e: Error) => void }>();

  constructor(private readonly db: Db) {}

  find(query: RecordQuery, limit: number): Promise<Found> {
    if (!this.db.name || this.db.name === ':memory:') return Promise.resolve(findRecords(this.db, query, limit));
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, query, limit });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new FillgateError('STORE_ERROR', 'records search stopped', {}));
    await w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./query-worker.js', import.meta.url), { workerData: { dbPath: this.db.name } });
    w.unref(); // an idle search worker never keeps the gateway from exiting
    w.on('message', (m: { id: number; result?: Found; error?: string; code?: ErrorCode }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.result) p?.resolve(m.result);
      else p?.reject(new FillgateError(m.code ?? 'STORE_ERROR', m.error ?? 'records search failed', {}));
    });
    const lost = (err: Error) => {
      if (this.worker === w) this.worker = undefined; // the next search starts a new one
      this.failAll(new FillgateError('STORE_ERROR', `records search worker failed: ${err.message}`, {}));
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`exited (${code})`)));
    return (this.worker = w);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
