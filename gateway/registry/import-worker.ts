/**
 * Worker side of a registry import (loaded through import-worker.js, which
 * registers tsx): its own connection to the station's SQLite file (WAL: reads
 * never wait for the station, and the station's reads never wait for it), the
 * file decoded, planned and written in short transactions (import-chunked.ts).
 * The parsing and checking of 80k rows take seconds of CPU; here they take
 * none of the posts' event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from '../sqlite.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { openRegistry } from './registry.ts';
import { importChunked } from './import-chunked.ts';
import type { ImportJob } from './import-runner.ts';

const job = workerData as ImportJob;
// Normal priority, unlike the export worker: this one holds the write lock during its short transactions, and a
// thread the OS deprioritised while holding it would keep the station's own writes (outbox, fill counts) waiting.
let db: Database.Database | undefined;
try {
  db = new Database(job.dbPath, { fileMustExist: true, timeout: 5000 });
  const registry = openRegistry(db, { limits: job.limits });
  // Per connection in WAL: this connection's commits skip the fsync (the station's own
  // connection keeps FULL, and its next commit syncs the import's pages too). A power cut
  // may lose the import's last transactions; importing the file again finishes it.
  db.pragma('synchronous = NORMAL');
  const text = new TextDecoder().decode(job.bytes);
  const report = await importChunked(registry, job.kind, text, job.format, job.opts, {
    ...job.chunk,
    onProgress: (written, toWrite) => parentPort?.postMessage({ type: 'progress', written, toWrite }),
  });
  parentPort?.postMessage({ type: 'done', report });
} catch (err) {
  parentPort?.postMessage({ type: 'failed', message: errorMessage(err) });
} finally {
  db?.close();
}
