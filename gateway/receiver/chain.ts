/**
 * The receiver's verdict on one record or event, as a pure function (no I/O), shared by
 * both stores and both chains (fill records and station events). The store loads what the
 * database holds around a batch (a `ChainView`) inside its transaction, with the station
 * locked on PostgreSQL; `decide` says accepted | duplicate | rejected(reason) for each item
 * in order, and the accepted ones join the view so the next item of the batch sees them.
 *
 * Order of the checks (the same as before issue 11):
 *   1. same id already stored: same hash and seq → duplicate, else CONFLICT;
 *   2. signature (computed before, in the prepare workers) → BAD_SIGNATURE;
 *   3. the key was revoked before the item was made → KEY_REVOKED;
 *   4. another item already at this seq → CONFLICT (a second chain);
 *   5. links to the stored neighbours (seq-1's hash, genesis for seq 1, seq+1's prevHash)
 *      → BROKEN_CHAIN; a missing neighbour below is a gap, reported, not fatal.
 */
import type { RecordResult } from './store.ts';

/** What the chain needs of a stored item. */
export interface ChainRow {
  seq: number;
  id: string;
  hash: string;
  prevHash: string;
}

/** A verified (or not) item ready for the chain check. */
export interface Candidate extends ChainRow {
  station: string;
  recordedMs: number;
  sigOk: boolean;
  /** Set when the key that signed it was revoked before recordedMs: the message. */
  revoked?: string;
}

/** The stored rows around a batch of one station. */
export interface ChainView {
  bySeq: Map<number, ChainRow>;
  byId: Map<string, ChainRow>;
  /** Per candidate seq: the highest stored seq below it (undefined: none). */
  floor: Map<number, ChainRow | undefined>;
}

export const emptyView = (): ChainView => ({ bySeq: new Map(), byId: new Map(), floor: new Map() });

/** The wording differs between the record chain and the event chain; the rules do not. */
export interface Nouns {
  item: 'record' | 'event';
  chain: 'chain' | 'event chain';
  /** "id" for records, "event id" for events (the messages the tests and stations know). */
  idWord: string;
  seqWord: string;
}
export const RECORD_NOUNS: Nouns = { item: 'record', chain: 'chain', idWord: 'id', seqWord: 'seq' };
export const EVENT_NOUNS: Nouns = { item: 'event', chain: 'event chain', idWord: 'event id', seqWord: 'event seq' };

const GENESIS = /^0{64}$/;

/**
 * The verdict for `c` against `view`, and whether to insert it. Accepted items are added to
 * the view by the caller (`admit`), so a batch's later items see the earlier ones.
 */
export function decide(c: Candidate, view: ChainView, n: Nouns, accepted: ChainRow[]): RecordResult {
  const base = { id: c.id, seq: c.seq };
  const same = view.byId.get(c.id);
  if (same) {
    if (same.hash === c.hash && same.seq === c.seq) return { ...base, status: 'duplicate' };
    return { ...base, status: 'rejected', reason: 'CONFLICT', message: `${n.idWord} ${c.id} was already accepted (seq ${same.seq}) with different content` };
  }
  if (!c.sigOk) return { ...base, status: 'rejected', reason: 'BAD_SIGNATURE', message: `signature does not verify with the registered key of station ${c.station}: ${n.item} forged or altered` };
  if (c.revoked) return { ...base, status: 'rejected', reason: 'KEY_REVOKED', message: c.revoked };
  const at = view.bySeq.get(c.seq);
  if (at) return { ...base, status: 'rejected', reason: 'CONFLICT', message: `${n.seqWord} ${c.seq} already holds ${n.item} ${at.id}: a second ${n.chain} for station ${c.station}` };
  const before = floorOf(c.seq, view, accepted);
  const after = view.bySeq.get(c.seq + 1);
  if (before && before.seq === c.seq - 1 && before.hash !== c.prevHash) {
    return { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: `prevHash does not match accepted ${n.item} seq ${before.seq}: the station's ${n.chain} was altered or forked` };
  }
  if (!before && c.seq === 1 && !GENESIS.test(c.prevHash)) return { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: `${n.seqWord} 1 must carry the genesis prevHash (64 zeros)` };
  if (after && after.prevHash !== c.hash) return { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: `accepted ${n.item} seq ${after.seq} does not link to this ${n.item}: it is not the original seq ${c.seq}` };
  const lastSeq = before?.seq ?? 0;
  return { ...base, status: 'accepted', ...(c.seq > lastSeq + 1 ? { gap: { from: lastSeq + 1, to: c.seq - 1 } } : {}) };
}

/** Add an accepted item to the view (and the batch's accepted list). */
export function admit(c: ChainRow, view: ChainView, accepted: ChainRow[]): void {
  const row = { seq: c.seq, id: c.id, hash: c.hash, prevHash: c.prevHash };
  view.bySeq.set(row.seq, row);
  view.byId.set(row.id, row);
  accepted.push(row);
}

function floorOf(seq: number, view: ChainView, accepted: ChainRow[]): ChainRow | undefined {
  let best = view.floor.get(seq);
  for (const a of accepted) if (a.seq < seq && (!best || a.seq > best.seq)) best = a;
  return best;
}

/** The seqs whose rows a batch needs (each seq and seq+1; seq-1 comes from the floor). */
export function seqsNeeded(cands: { seq: number }[]): number[] {
  const s = new Set<number>();
  for (const c of cands) {
    s.add(c.seq);
    s.add(c.seq + 1);
  }
  return [...s];
}

/** Group a batch's items by station, remembering each item's place in the batch. */
export function byStation<T extends { station?: string }>(items: T[]): Map<string, { item: T; index: number }[]> {
  const m = new Map<string, { item: T; index: number }[]>();
  items.forEach((item, index) => {
    const key = item.station ?? '';
    let list = m.get(key);
    if (!list) m.set(key, (list = []));
    list.push({ item, index });
  });
  return m;
}
