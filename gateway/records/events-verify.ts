/**
 * `fillgate records verify` for the event chain (events.ts): the same walk as
 * the fill records (verify.ts), over the `events` table, so an altered, removed
 * or forged event is named by its seq.
 */
import type { KeyObject } from 'node:crypto';
import { openRecordsDb, type Db } from './db.ts';
import { eventShapeError } from './event.ts';
import { EVENTS_META } from './events.ts';
import { toPublicKey } from './keys.ts';
import { formatSigners, verifyChain, type ChainSpec, type VerifyKeys, type VerifyReport } from './verify.ts';

export const EVENT_CHAIN: ChainSpec = { table: 'events', noun: 'event', prunedSeqKey: EVENTS_META.prunedSeq, prunedHashKey: EVENTS_META.prunedHash, shape: eventShapeError };

export function verifyEvents(dbOrPath: Db | string, publicKeys: VerifyKeys, opts: { maxProblems?: number } = {}): VerifyReport {
  const { db, owned } = openRecordsDb(dbOrPath, { readonly: typeof dbOrPath === 'string' });
  try {
    return verifyChain(db, (Array.isArray(publicKeys) ? publicKeys : [publicKeys]).map((k: KeyObject | string) => toPublicKey(k)), opts.maxProblems ?? 1000, EVENT_CHAIN);
  } finally {
    if (owned) db.close();
  }
}

export function formatEventsReport(r: VerifyReport): string {
  const head = r.ok
    ? `OK: ${r.checked} station events verified (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}), chain and signatures intact`
    : `FAILED: ${r.problemCount} problem(s) in ${r.checked} station events`;
  const pruned = r.prunedThroughSeq > 0 ? `\nevents up to seq ${r.prunedThroughSeq} were pruned after the retention period` : '';
  const lines = r.problems.map((p) => `  ${p.kind.padEnd(9)} ${p.message}`);
  const more = r.problemCount > r.problems.length ? [`  … and ${r.problemCount - r.problems.length} more`] : [];
  return [head + pruned + formatSigners(r), ...lines, ...more].join('\n');
}
