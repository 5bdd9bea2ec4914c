/**
 * A records export read and formatted in a worker thread (export-worker.ts),
 * received as text chunks: the main thread only writes them out. One chunk is
 * requested at a time, ahead of the writer by one, so a slow reader (a panel on
 * Wi-Fi) holds the export back instead of filling memory.
 */
import { Worker } from 'node:worker_threads';
import { FillgateError } from '../../protocols/errors.ts';
import type { ExportFormat } from './export.ts';
import { exportChunks, type ExportQuery } from './export-stream.ts';
import type { Db } from './db.ts';

export interface ExportJob {
  /** The record database file (the worker opens it read-only). */
  dbPath: string;
  format: ExportFormat;
  query: ExportQuery;
}

type Reply = { chunk: string } | { done: true } | { error: string };

export async function* exportInWorker(job: ExportJob): AsyncGenerator<string> {
  const worker = new Worker(new URL('./export-worker.js', import.meta.url), { workerData: job });
  let failure: Error | undefined;
  const replies: Reply[] = [];
  let wake: (() => void) | undefined;
  const push = (r: Reply) => {
    replies.push(r);
    wake?.();
  };
  worker.on('message', push);
  worker.on('error', (err) => push({ error: err.message }));
  worker.on('exit', () => push({ done: true }));
  const next = async (): Promise<Reply> => {
    while (replies.length === 0) await new Promise<void>((r) => (wake = r));
    return replies.shift()!;
  };
  let finished = false;
  try {
    worker.postMessage('next');
    for (;;) {
      const r = await next();
      if ('error' in r) throw (failure = new FillgateError('STORE_ERROR', `records export failed: ${r.error}`, {}));
      if ('done' in r) {
        finished = true;
        return;
      }
      worker.postMessage('next'); // the worker formats the next chunk while this one is written
      yield r.chunk;
    }
  } finally {
    if (!finished && !failure) await worker.terminate();
  }
}

/** From a worker when the database is a file; an in-memory database (tests) has no file to open, so in slices on this thread. */
export function exportFrom(db: Db, format: ExportFormat, query: ExportQuery): AsyncGenerator<string> {
  return db.name && db.name !== ':memory:' ? exportInWorker({ dbPath: db.name, format, query }) : exportChunks(db, format, query);
}
