/**
 * Per-record work the receiver can do anywhere (main thread or a worker):
 * parse, check the shape, rebuild the canonical bytes, hash, verify the
 * Ed25519 signature. Only the chain and the database stay on the main thread.
 */
import type { KeyObject } from 'node:crypto';
import { sha256Hex } from '../records/canonical.ts';
import { recordShapeError, signedBytes, type FillRecordV1 } from '../records/record.ts';
import { verify } from 'node:crypto';

export interface PreparedRecord {
  ok: true;
  station: string;
  seq: number;
  id: string;
  prevHash: string;
  recordedMs: number;
  hash: string;
  sigOk: boolean;
  /** The record as JSON text, stored as received. */
  body: string;
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

export function prepareLine(line: string, keyOf: (station: string) => KeyObject | undefined): Prepared {
  let rec: FillRecordV1;
  try {
    rec = JSON.parse(line) as FillRecordV1;
  } catch {
    return { ok: false, id: '', reason: 'BAD_FORMAT', message: 'record is not JSON' };
  }
  const id = typeof rec?.id === 'string' ? rec.id : '';
  const shape = recordShapeError(rec);
  if (shape) return { ok: false, id, reason: 'BAD_FORMAT', message: shape };
  const key = keyOf(rec.station);
  if (!key) return { ok: false, id, seq: rec.seq, station: rec.station, reason: 'UNKNOWN_STATION', retryable: true, message: `station ${rec.station} has no registered key` };
  let bytes: string;
  try {
    bytes = signedBytes(rec);
  } catch (err) {
    return { ok: false, id, seq: rec.seq, station: rec.station, reason: 'BAD_FORMAT', message: (err as Error).message };
  }
  let sigOk = false;
  try {
    sigOk = verify(null, Buffer.from(bytes, 'utf8'), key, Buffer.from(rec.sig, 'base64'));
  } catch {
    sigOk = false;
  }
  return { ok: true, station: rec.station, seq: rec.seq, id, prevHash: rec.prevHash, recordedMs: Date.parse(rec.recordedAt), hash: sha256Hex(bytes), sigOk, body: line };
}
