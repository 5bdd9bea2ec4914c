/**
 * Worker side of the records screen's search (loaded through query-worker.js):
 * a filter on post, outcome or cylinder is a json_extract over every record, 0.6-1.2 s
 * for 50k records, which must not run on the posts' event loop (issue 9 point 5).
 * A read-only connection of its own (WAL: never waits for the store's commits),
 * below the posts' thread in the scheduler (it holds no lock the station needs).
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import Database from '../../sqlite.ts';
import { errorMessage, isFillgateError } from '../../../protocols/errors.ts';
import { findRecords, type RecordQuery } from './records.ts';

try {
  setPriority(10);
} catch {
  // not permitted here: normal priority
}
const db = new Database((workerData as { dbPath: string }).dbPath, { readonly: true, fileMustExist: true });

parentPort?.on('message', (m: { id: number; query: RecordQuery; limit: number }) => {
  try {
    parentPort?.postMessage({ id: m.id, result: findRecords(db, m.query, m.limit) });
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: errorMessage(err), code: isFillgateError(err) ? err.code : undefined });
  }
});
