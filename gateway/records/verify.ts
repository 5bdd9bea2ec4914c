/**
 * `fillgate records verify`: walk the local chain and say, per record, whether
 * it was removed, altered or forged. Each problem names the seq and what it
 * means, so an inspector can act on the message alone.
 */
import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH, canonicalJson, sha256Hex } from './canonical.ts';
import { getMeta, openRecordsDb, type Db, type StoredRow } from './db.ts';
import { keyFingerprint, toPublicKey } from './keys.ts';
import { recordHash, recordShapeError, verifyBytes, verifySignature, withoutSig, type FillRecordV1 } from './record.ts';

export type ProblemKind = 'format' | 'gap' | 'altered' | 'signature' | 'chain';

export interface VerifyProblem {
  seq: number;
  kind: ProblemKind;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Records before this seq were pruned after the retention period (0: none). */
  prunedThroughSeq: number;
  problems: VerifyProblem[];
  /** All problems, also those beyond the first `maxProblems` listed. */
  problemCount: number;
  /** Which key signed which stretch of the chain, in chain order (one entry per key change). */
  signers: { fp: string; firstSeq: number; lastSeq: number }[];
}

/** The station's key, or its keys after rotations (current first: keys.ts `stationPublicKeys`). */
export type VerifyKeys = KeyObject | string | (KeyObject | string)[];

export const keyList = (keys: VerifyKeys): KeyObject[] => (Array.isArray(keys) ? keys : [keys]).map((k) => toPublicKey(k));

export function verifyRecords(dbOrPath: Db | string, publicKeys: VerifyKeys, opts: { maxProblems?: number } = {}): VerifyReport {
  const { db, owned } = openRecordsDb(dbOrPath, { readonly: typeof dbOrPath === 'string' });
  try {
    return verifyChain(db, keyList(publicKeys), opts.maxProblems ?? 1000, RECORD_CHAIN);
  } finally {
    if (owned) db.close();
  }
}

/** Which chain of the database to walk: the fill records, or the station events (events.ts). */
export interface ChainSpec {
  table: 'records' | 'events';
  noun: 'record' | 'event';
  prunedSeqKey: string;
  prunedHashKey: string;
  /** Extra shape check of a parsed row (events: type and kind). */
  shape?: (parsed: unknown) => string | undefined;
}

export const RECORD_CHAIN: ChainSpec = { table: 'records', noun: 'record', prunedSeqKey: 'pruned_through_seq', prunedHashKey: 'pruned_through_hash' };

/** Walk one chain (exported for the event chain: events-verify.ts). An absent table is an empty chain. */
export function verifyChain(db: Db, keys: KeyObject[], maxProblems: number, spec: ChainSpec): VerifyReport {
  const noun = spec.noun;
  const prunedSeq = Number(getMeta(db, spec.prunedSeqKey) ?? 0);
  let prev = { seq: prunedSeq, hash: getMeta(db, spec.prunedHashKey) ?? GENESIS_HASH };
  const report: VerifyReport = { ok: true, checked: 0, prunedThroughSeq: prunedSeq, problems: [], problemCount: 0, signers: [] };
  const fps = keys.map((k) => keyFingerprint(k));
  // A rotation moves the chain from one key to the next for good: a key the chain has left
  // signing again later is someone holding a retired key, not the station (key-rotation.ts).
  let signer = -1;
  const left = new Set<number>();
  const add = (seq: number, kind: ProblemKind, message: string) => {
    report.problemCount++;
    if (report.problems.length < maxProblems) report.problems.push({ seq, kind, message });
  };
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(spec.table);
  const rows = exists ? (db.prepare(`SELECT seq, id, hash, body FROM ${spec.table} ORDER BY seq`).iterate() as IterableIterator<StoredRow>) : [];
  for (const row of rows) {
    report.checked++;
    report.firstSeq ??= row.seq;
    report.lastSeq = row.seq;
    if (row.seq !== prev.seq + 1) {
      const range = row.seq - prev.seq === 2 ? `seq ${prev.seq + 1} is` : `seq ${prev.seq + 1}..${row.seq - 1} are`;
      add(prev.seq + 1, 'gap', `${noun} ${range} missing: removed from the store (the chain jumps from ${prev.seq} to ${row.seq})`);
    }
    const k = checkRow(row, keys, signer, prev, add, spec);
    if (k !== undefined && k === signer) report.signers.at(-1)!.lastSeq = row.seq;
    else if (k !== undefined && left.has(k)) {
      add(row.seq, 'signature', `${noun} seq ${row.seq}: signed by key ${fps[k]}, which the chain had left for key ${fps[signer]} (a retired key signing after a rotation)`);
    } else if (k !== undefined) {
      if (signer >= 0) left.add(signer);
      signer = k;
      report.signers.push({ fp: fps[k]!, firstSeq: row.seq, lastSeq: row.seq });
    }
    // Link the next record to the hash stored at commit: an altered body is
    // reported once, here, not again as a broken link in the next record.
    prev = { seq: row.seq, hash: row.hash };
  }
  report.ok = report.problemCount === 0;
  return report;
}

/**
 * Check one stored row against its signature, its stored hash and the previous record. Returns the
 * index of the key whose signature verifies (the previous record's key tried first), if any.
 */
function checkRow(row: Pick<StoredRow, 'seq' | 'id' | 'hash' | 'body'>, keys: KeyObject[], prefer: number, prev: { seq: number; hash: string }, add: (seq: number, kind: ProblemKind, msg: string) => void, spec: ChainSpec): number | undefined {
  const order = prefer >= 0 ? [prefer, ...[...keys.keys()].filter((i) => i !== prefer)] : [...keys.keys()];
  const noun = spec.noun;
  let rec: FillRecordV1;
  try {
    rec = JSON.parse(row.body) as FillRecordV1;
  } catch {
    add(row.seq, 'format', `${noun} seq ${row.seq}: stored body is not JSON (altered in the database)`);
    return undefined;
  }
  const shape = recordShapeError(rec) ?? spec.shape?.(rec);
  if (shape) {
    add(row.seq, 'format', `${noun} seq ${row.seq}: ${shape} (altered in the database)`);
    return undefined;
  }
  if (rec.seq !== row.seq || rec.id !== row.id) add(row.seq, 'altered', `${noun} seq ${row.seq}: its body says seq ${rec.seq} id ${rec.id}, the index says seq ${row.seq} id ${row.id} (altered in the database)`);
  if (row.seq === prev.seq + 1 && rec.prevHash !== prev.hash) {
    add(row.seq, 'chain', `${noun} seq ${row.seq}: prevHash does not match ${noun} seq ${prev.seq} (that ${noun} was altered or replaced)`);
  }
  // Fast path for an intact record: signature and hash over the stored text itself.
  const cut = withoutSig(row.body, rec.sig);
  if (cut !== undefined && sha256Hex(cut) === row.hash) {
    const k = order.find((i) => verifyBytes(cut, rec.sig, keys[i]!));
    if (k !== undefined) return k;
  }
  let hash: string;
  try {
    hash = recordHash(rec);
    if (canonicalJson(rec) !== row.body) add(row.seq, 'altered', `${noun} seq ${row.seq}: stored bytes are not in canonical form (edited by hand)`);
  } catch (err) {
    add(row.seq, 'format', `${noun} seq ${row.seq}: ${(err as Error).message}`);
    return undefined;
  }
  const signedBy = order.find((i) => verifySignature(rec, keys[i]!));
  const sigOk = signedBy !== undefined;
  if (hash !== row.hash) {
    add(row.seq, 'altered', `${noun} seq ${row.seq}: content changed after it was committed (hash ${hash.slice(0, 12)}… ≠ stored ${row.hash.slice(0, 12)}…)${sigOk ? '' : '; its signature no longer verifies'}`);
  } else if (!sigOk) {
    add(row.seq, 'signature', `${noun} seq ${row.seq}: signature does not verify with the station key${keys.length > 1 ? ` nor its ${keys.length - 1} retired one(s)` : ''} (forged or signed with another key)`);
  }
  return hash === row.hash ? signedBy : undefined;
}

/** "signed by key a1b2… (seq 1..120), then key c3d4… (seq 121..300)" when more than one key signed. */
function formatSigners(r: VerifyReport): string {
  if (r.signers.length < 2) return '';
  return `\nsigned by ${r.signers.map((s) => `key ${s.fp} (seq ${s.firstSeq}..${s.lastSeq})`).join(', then ')}`;
}

/** The report of one chain; `plural` names its entries ("records", "station events"), `short` the pruned line's. */
export function formatChainReport(r: VerifyReport, plural: string, short = plural): string {
  const head = r.ok
    ? `OK: ${r.checked} ${plural} verified (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}), chain and signatures intact`
    : `FAILED: ${r.problemCount} problem(s) in ${r.checked} ${plural}`;
  const pruned = r.prunedThroughSeq > 0 ? `\n${short} up to seq ${r.prunedThroughSeq} were pruned after the retention period` : '';
  const lines = r.problems.map((p) => `  ${p.kind.padEnd(9)} ${p.message}`);
  const more = r.problemCount > r.problems.length ? [`  … and ${r.problemCount - r.problems.length} more`] : [];
  return [head + pruned + formatSigners(r), ...lines, ...more].join('\n');
}

export function formatVerifyReport(r: VerifyReport): string {
  return formatChainReport(r, 'records');
}
