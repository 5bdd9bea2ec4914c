/**
 * A platform adapter maps record v1 to one platform's payload and reads its
 * acknowledgement back. Provincial platforms name fields differently; each
 * one is one small file here (issue 5 §2).
 */
export interface OutgoingRecord {
  seq: number;
  id: string;
  /** The canonical JSON of the signed v1 record, as stored. */
  json: string;
}

export interface RecordAck {
  id: string;
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: string;
  /** A rejection that is not a verdict on the record (e.g. station not registered yet): send again later. */
  retryable?: boolean;
}

export type BatchAck = { ok: true; results: RecordAck[] } | { ok: false; error: string };

export interface PlatformAdapter {
  name: string;
  encodeBatch(records: OutgoingRecord[]): { contentType: string; body: string };
  /** Only what the platform explicitly acknowledges counts: anything else leaves records unsent. */
  decodeAck(status: number, text: string): BatchAck;
}
