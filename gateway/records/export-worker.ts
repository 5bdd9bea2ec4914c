/**
 * Worker side of a records export (loaded through export-worker.js, which
 * registers tsx): a read-only connection of its own to the record database (WAL:
 * it never waits for, nor holds up, the store's commits), the records parsed and
 * formatted here, and handed out one chunk per request, so the main thread only
 * writes finished text to the socket and the export cannot run ahead of it.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import Database from '../sqlite.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { exportChunks } from './export-stream.ts';
import type { ExportJob } from './export-runner.ts';

const job = workerData as ExportJob;
// Below the posts' thread in the OS scheduler (on Linux the nice value is per thread; 0 = this thread): an
// export can wait, a cut-off cannot. Safe here because this worker only reads: it holds no lock the station needs.
try {
  setPriority(10);
} catch {
  // not permitted on this system: run at normal priority
}
const db = new Database(job.dbPath, { readonly: true, fileMustExist: true });
// Bigger slices than on the main thread: nothing else runs on this one.
const chunks = exportChunks(db, job.format, job.query, { sliceMs: 20, yieldBetween: false });

parentPort?.on('message', async (m: 'next' | 'stop') => {
  try {
    const r = m === 'stop' ? await chunks.return(undefined) : await chunks.next();
    parentPort?.postMessage(r.done ? { done: true } : { chunk: r.value });
    if (r.done) end();
  } catch (err) {
    parentPort?.postMessage({ error: errorMessage(err) });
    end();
  }
});

function end(): void {
  db.close();
  parentPort?.close();
}
