/**
 * Runs a registry import in a worker thread (import-worker.ts) against the
 * station's database file, and resolves with its report. The main thread only
 * hands over the file's bytes (transferred, not copied) and receives the report.
 */
import { Worker } from 'node:worker_threads';
import { FillgateError } from '../../protocols/errors.ts';
import type { ImportLimits } from './models.ts';
import type { ImportFormat, ImportOptions, ImportReport } from './import.ts';
import type { ChunkOptions } from './import-chunked.ts';

export interface ImportJob {
  /** The station's SQLite file (not ':memory:': the worker opens its own connection). */
  dbPath: string;
  kind: 'cylinders' | 'operators';
  format: ImportFormat;
  bytes: Uint8Array;
  opts: ImportOptions;
  limits?: ImportLimits;
  chunk?: Omit<ChunkOptions, 'onProgress'>;
}

export function importInWorker(job: ImportJob, onProgress?: (written: number, toWrite: number) => void): Promise<ImportReport> {
  // Copied, not transferred: Node 24 refuses to transfer a Buffer's ArrayBuffer ("Cannot transfer object
  // of unsupported type"), and a copy of even a large file costs milliseconds next to the import.
  const bytes = Uint8Array.from(job.bytes);
  const worker = new Worker(new URL('./import-worker.js', import.meta.url), { workerData: { ...job, bytes } });
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    worker.on('message', (m: { type: 'progress'; written: number; toWrite: number } | { type: 'done'; report: ImportReport } | { type: 'failed'; message: string }) => {
      if (m.type === 'progress') onProgress?.(m.written, m.toWrite);
      else if (m.type === 'done') settle(() => resolve(m.report));
      else settle(() => reject(new FillgateError('STORE_ERROR', `registry import failed: ${m.message}`, { kind: job.kind })));
    });
    worker.on('error', (err) => settle(() => reject(new FillgateError('STORE_ERROR', `registry import worker failed: ${err.message}`, { kind: job.kind }))));
    worker.on('exit', (code) => settle(() => reject(new FillgateError('STORE_ERROR', `registry import worker exited (${code}) without a report`, { kind: job.kind }))));
  });
}
