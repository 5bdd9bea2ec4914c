/**
 * Per-record work the receiver can do anywhere (main thread or a worker):
 * parse, check the shape, rebuild the canonical bytes, hash, verify the
 * Ed25519 signature. Only the chain and the database stay on the main thread.
 */
import type { KeyObject } from 'node:crypto';
import { sha256Hex } from '../records/canonical.ts';
import { recordShapeError, signedBytes, verifyBytes, withoutSig, type FillRecordV1 } from '../records/record.ts';

export interface PreparedRecord {
  ok: true;
  station: string;
  seq: number;
  id: string;
  prevHash: string;
  recordedMs: number;
  hash: string;
  sigOk: boolean;
  /** Indexed beside the body for the inspector's reports (reports.ts): the cylinder code and the outcome. */
  cylinder?: string;
  outcome?: string;
  /** The record as JSON text, stored as received. */
  body: string;
  /** Fingerprint of the station key that verified it (keys.ts), when one did. */
  keyFp?: string;
}

/** A station's registered keys, current first (a rotated-out key stays for its older records). */
export interface StationKey {
  fp: string;
  key: KeyObject;
}

export interface BadRecord {
  ok: false;
  id: string;
  seq?: number;
  station?: string;
  reason: 'BAD_FORMAT' | 'UNKNOWN_STATION';
  message: string;
  retryable?: boolean;
}

export type Prepared = PreparedRecord | BadRecord;

export function prepareLine(line: string, keysOf: (station: string) => StationKey[] | undefined): Prepared {
  let rec: FillRecordV1;
  try {
    rec = JSON.parse(line) as FillRecordV1;
  } catch {
    return { ok: false, id: '', reason: 'BAD_FORMAT', message: 'record is not JSON' };
  }
  const id = typeof rec?.id === 'string' ? rec.id : '';
  const shape = recordShapeError(rec);
  if (shape) return { ok: false, id, reason: 'BAD_FORMAT', message: shape };
  const keys = keysOf(rec.station);
  if (!keys || keys.length === 0) return { ok: false, id, seq: rec.seq, station: rec.station, reason: 'UNKNOWN_STATION', retryable: true, message: `station ${rec.station} has no registered key` };
  // Fast path: the uploader sends the stored canonical text, so the signed
  // bytes are the line minus its "sig" member. If the signature verifies over
  // them, the station signed exactly those bytes, and it signs only canonical
  // form: no need to rebuild it. Otherwise rebuild and verify properly.
  const cut = withoutSig(line, rec.sig);
  if (cut !== undefined) for (const k of keys) if (verifyBytes(cut, rec.sig, k.key)) return { ...accepted(rec, id, cut, line), keyFp: k.fp };
  let bytes: string;
  try {
    bytes = signedBytes(rec);
  } catch (err) {
    return { ok: false, id, seq: rec.seq, station: rec.station, reason: 'BAD_FORMAT', message: (err as Error).message };
  }
  const by = bytes === cut ? undefined : keys.find((k) => verifyBytes(bytes, rec.sig, k.key));
  return { ...accepted(rec, id, bytes, line), sigOk: by !== undefined, keyFp: by?.fp };
}

function accepted(rec: FillRecordV1, id: string, bytes: string, line: string): PreparedRecord {
  const cylinder = typeof rec.cylinderCode === 'string' ? rec.cylinderCode : undefined;
  const outcome = typeof rec.outcome === 'string' ? rec.outcome : undefined;
  return { ok: true, station: rec.station, seq: rec.seq, id, prevHash: rec.prevHash, recordedMs: Date.parse(rec.recordedAt), hash: sha256Hex(bytes), sigOk: true, body: line, cylinder, outcome };
}
