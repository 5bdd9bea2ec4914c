/**
 * `fillgate records verify` for the event chain (events.ts): the same walk as
 * the fill records (verify.ts), over the `events` table, so an altered, removed
 * or forged event is named by its seq.
 */
import { openRecordsDb, type Db } from './db.ts';
import { eventShapeError } from './event.ts';
import { EVENTS_META } from './events.ts';
import { formatChainReport, keyList, verifyChain, type ChainSpec, type VerifyKeys, type VerifyReport } from './verify.ts';

export const EVENT_CHAIN: ChainSpec = { table: 'events', noun: 'event', prunedSeqKey: EVENTS_META.prunedSeq, prunedHashKey: EVENTS_META.prunedHash, shape: eventShapeError };

export function verifyEvents(dbOrPath: Db | string, publicKeys: VerifyKeys, opts: { maxProblems?: number } = {}): VerifyReport {
  const { db, owned } = openRecordsDb(dbOrPath, { readonly: typeof dbOrPath === 'string' });
  try {
    return verifyChain(db, keyList(publicKeys), opts.maxProblems ?? 1000, EVENT_CHAIN);
  } finally {
    if (owned) db.close();
  }
}

export function formatEventsReport(r: VerifyReport): string {
  return formatChainReport(r, 'station events', 'events');
}
