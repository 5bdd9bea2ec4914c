/**
 * Record exports that never hold the event loop (issue 9 point 5): a CSV of
 * 50k records took 2-3 s as one string, on the loop the posts' cut-offs run on.
 * Here the records are read in windows of `SPAN` sequence numbers (an indexed
 * range on the primary key, so each query is short even with filters), formatted,
 * and handed out as text chunks of at most ~`sliceMs` of work; the writer waits
 * for the socket or file to drain (backpressure) and the loop runs between chunks.
 *
 * No statement stays open across a yield: an open better-sqlite3 iterator would
 * make the store's connection busy, and a fill record could not be committed.
 * The output is byte for byte what formatRecords/recordsToCsv write.
 */
import { once } from 'node:events';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { FillgateError } from '../../protocols/errors.ts';
import type { Db } from './db.ts';
import { csvHeader, csvRow, type ExportFormat } from './export.ts';
import type { FillRecordV1 } from './record.ts';

/** Sequence numbers per query. */
const SPAN = 128;

export interface ExportQuery {
  /** SQL conditions on the records table (ANDed), with their arguments. */
  conditions?: string[];
  args?: (string | number)[];
  /** At most this many records. */
  max?: number;
}

export async function* exportChunks(db: Db, format: ExportFormat, q: ExportQuery = {}, opts: { sliceMs?: number; yieldBetween?: boolean } = {}): AsyncGenerator<string> {
  if (format !== 'csv' && format !== 'json') throw new FillgateError('BAD_CONFIG', `--format must be csv or json, not "${format as string}"`, {});
  const sliceMs = opts.sliceMs ?? 4;
  const max = q.max ?? Infinity;
  const extra = q.conditions?.length ? ` AND ${q.conditions.join(' AND ')}` : '';
  const page = db.prepare(`SELECT body FROM records WHERE seq > ? AND seq <= ?${extra} ORDER BY seq LIMIT ?`);
  const { lo, hi } = db.prepare('SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM records').get() as { lo: number | null; hi: number | null };
  let n = 0;
  let cursor = (lo ?? 1) - 1;
  const end = hi ?? 0;
  const line = format === 'csv' ? (r: FillRecordV1) => csvRow(r) + '\r\n' : (r: FillRecordV1) => (n === 0 ? '[\n' : ',\n') + JSON.stringify(r);
  if (format === 'csv') yield csvHeader() + '\r\n';
  while (cursor < end && n < max) {
    const parts: string[] = [];
    const t0 = performance.now();
    do {
      const rows = page.all(cursor, cursor + SPAN, ...(q.args ?? []), Number.isFinite(max) ? max - n : -1) as { body: string }[];
      cursor += SPAN;
      for (const r of rows) {
        parts.push(line(JSON.parse(r.body) as FillRecordV1));
        n++;
      }
    } while (cursor < end && n < max && performance.now() - t0 < sliceMs);
    if (parts.length) yield parts.join('');
    // Let the polls, cut-offs and other requests run before the next slice (not needed in a worker).
    if (opts.yieldBetween ?? true) await yieldLoop();
  }
  if (format === 'json') yield n === 0 ? '[]\n' : '\n]\n';
}

/** Writes the chunks to a stream, waiting for it to drain; stops (false) if the reader went away; throws the stream's error. */
export async function pipeChunks(chunks: AsyncIterable<string>, out: Writable): Promise<boolean> {
  let failed: Error | undefined;
  const onError = (err: Error) => (failed ??= err);
  out.on('error', onError);
  try {
    const done = await writeAll(chunks, out);
    if (failed) throw failed;
    return done;
  } finally {
    out.off('error', onError);
  }
}

async function writeAll(chunks: AsyncIterable<string>, out: Writable): Promise<boolean> {
  for await (const chunk of chunks) {
    if (out.destroyed || out.writableEnded) return false;
    if (!out.write(chunk)) {
      // Abort the loser's listener, or every wait would leave a 'close' listener behind.
      const ac = new AbortController();
      const opts = { signal: ac.signal };
      const drained = await Promise.race([once(out, 'drain', opts).then(() => true), once(out, 'close', opts).then(() => false)]).finally(() => ac.abort());
      if (!drained) return false;
    }
  }
  return true;
}
