/**
 * A registry import that never holds the station up (issue 9 point 5): the plan
 * (import.ts) and then the writes in short transactions, each stopped after
 * `sliceMs`, with a pause of `pauseMs` between them.
 *
 * Why short transactions: the gateway's main thread writes to the same SQLite
 * file (MQTT outbox, fill counts, preacts). An import that held the write lock
 * for seconds would make those writes wait in SQLite's busy handler, on the
 * event loop the posts' cut-offs run on. A few ms per transaction and a longer
 * pause let them in (the busy handler retries after 1, 2, 5 ms...).
 *
 * What "all-or-nothing" means here: every check is made before the first write,
 * so a file with any error writes nothing, as before. A row can still fail at
 * write time if the database changed since the plan (a cylinder scrapped in
 * between, a disk error); the import then stops, the report says how many rows
 * were written and why it stopped, and every written row is in the change log.
 * Importing the same file again is safe: unchanged rows are not written.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../protocols/errors.ts';
import type { Registry } from './registry.ts';
import { logImported, planImport, reportOf, writePlannedRow, type ImportOptions, type ImportReport } from './import.ts';
import type { ImportFormat, ImportIssue } from './records.ts';

export interface ChunkOptions {
  /** Longest write transaction (ms); default 4. */
  sliceMs?: number;
  /** Pause between transactions (ms); default 8, longer than a slice so the station's own writes get the lock. */
  pauseMs?: number;
  /** After each committed transaction: rows written so far of those to write. */
  onProgress?: (written: number, toWrite: number) => void;
}

export async function importChunked(registry: Registry, kind: 'cylinders' | 'operators', text: string, format: ImportFormat, opts: ImportOptions, chunk: ChunkOptions = {}): Promise<ImportReport> {
  const plan = planImport(registry, kind, text, format, opts);
  if (plan.blocked) return reportOf(plan, false);
  const sliceMs = chunk.sliceMs ?? 4;
  const pauseMs = chunk.pauseMs ?? 8;
  const extra: ImportIssue[] = [];
  let committed = 0;
  let next = 0;
  let stopped = false;
  const failed = new Set<number>();
  const slice = registry.db.transaction(() => {
    const t0 = performance.now();
    const first = next;
    // At least one row per slice, however short the slice: the import always makes progress.
    while (next < plan.writes.length && (next === first || performance.now() - t0 < sliceMs)) {
      const w = plan.writes[next];
      try {
        writePlannedRow(registry, plan, w);
      } catch (err) {
        // upsert runs in a savepoint: the failed row left nothing behind.
        extra.push({ row: w.row, line: w.line, key: w.key, severity: 'error', message: `not written: ${errorMessage(err)}` });
        plan.counts[w.change]--;
        failed.add(next);
        if (plan.mode === 'all-or-nothing') {
          stopped = true;
          return;
        }
      }
      next++;
    }
    if (next === plan.writes.length) logImported(registry, plan);
  });
  for (;;) {
    try {
      slice();
      committed = next;
    } catch (err) {
      // The transaction itself failed (disk full, I/O): this slice rolled back.
      extra.push({ row: 0, severity: 'error', message: `the last transaction rolled back: ${errorMessage(err)}` });
      next = committed;
      stopped = true;
    }
    chunk.onProgress?.(committed, plan.writes.length);
    if (stopped || committed >= plan.writes.length) break;
    await sleep(pauseMs);
  }
  if (stopped) {
    // Counts say what was written; the rows not reached are listed as not written.
    plan.writes.forEach((w, i) => i >= committed && !failed.has(i) && plan.counts[w.change]--);
    extra.push({ row: 0, severity: 'error', message: `import stopped after writing ${committed} of ${plan.writes.length} rows (did the database change since the file was checked?): fix the cause and import the file again; rows already written stay, and are reported unchanged next time` });
  }
  return reportOf(plan, committed > 0 || plan.writes.length === 0, extra);
}
