/**
 * Station keys at the receiver (issue 11 point 5): registration, rotation by a handover
 * record the old key signs, revocation with a date.
 *
 * - A station may have several keys: the current one and rotated-out ones, which still
 *   verify the records they signed before the handover.
 * - A handover `{type:"key-handover", v:1, station, newPublicKey, at, sig}` is signed by the
 *   station's current key over its canonical JSON without `sig`. Accepting it makes the new
 *   key current and revokes the old one after `at`: the old key's records made later are
 *   refused (KEY_REVOKED).
 * - Revocation with a date (an admin act, e.g. a stolen station PC): records the key signed
 *   after that date are refused; earlier ones still verify.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../records/canonical.ts';
import { publicKeyPemOf, toPublicKey } from '../records/keys.ts';

export interface KeyInfo {
  station: string;
  fp: string;
  pem: string;
  addedMs: number;
  /** Records this key signed that were made after this instant are refused. */
  revokedAfterMs?: number;
  via: 'register' | 'handover' | 'config';
}

export interface KeyHandover {
  type: 'key-handover';
  v: 1;
  station: string;
  newPublicKey: string;
  /** ISO 8601: from this instant on, only the new key. */
  at: string;
  sig: string;
}

export { keyFingerprint } from '../records/keys.ts';

/** The PEM in one normal form, so equal keys compare equal. */
export const normalPem = (key: string | KeyObject): string => publicKeyPemOf(toPublicKey(key));

function handoverBytes(h: Omit<KeyHandover, 'sig'> | KeyHandover): string {
  const { sig: _sig, ...rest } = h as KeyHandover;
  void _sig;
  return canonicalJson(rest);
}

/** Made at the station (`fillgate keys rotate`) or by a test: signed by the old private key. */
export function makeHandover(station: string, oldPrivateKey: KeyObject, newPublicKey: string | KeyObject, atMs: number): KeyHandover {
  const body = { type: 'key-handover' as const, v: 1 as const, station, newPublicKey: normalPem(newPublicKey), at: new Date(atMs).toISOString() };
  return { ...body, sig: sign(null, Buffer.from(handoverBytes(body)), oldPrivateKey).toString('base64') };
}

/** Why a handover cannot be accepted against the station's current key, or undefined. */
export function handoverError(h: unknown, current: KeyInfo | undefined): string | undefined {
  const x = h as Partial<KeyHandover>;
  if (!x || x.type !== 'key-handover' || x.v !== 1) return 'not a key-handover v1 record';
  if (typeof x.station !== 'string' || typeof x.newPublicKey !== 'string' || typeof x.at !== 'string' || typeof x.sig !== 'string') return 'station, newPublicKey, at and sig are required';
  if (!Number.isFinite(Date.parse(x.at))) return `at is not a date: ${x.at}`;
  if (!current) return `station ${x.station} has no registered key to hand over from`;
  try {
    toPublicKey(x.newPublicKey);
  } catch {
    return 'newPublicKey is not an Ed25519 public key';
  }
  const ok = verify(null, Buffer.from(handoverBytes(x as KeyHandover)), toPublicKey(current.pem), Buffer.from(x.sig, 'base64'));
  return ok ? undefined : `handover is not signed by the current key of station ${x.station} (${current.fp})`;
}

/** The revocation message for a record signed by `k` and made at `recordedMs`, or undefined. */
export function revokedMessage(k: KeyInfo | undefined, recordedMs: number, item: string): string | undefined {
  if (!k || k.revokedAfterMs === undefined || recordedMs <= k.revokedAfterMs) return undefined;
  return `${item} made ${new Date(recordedMs).toISOString()} is signed by key ${k.fp} of station ${k.station}, revoked after ${new Date(k.revokedAfterMs).toISOString()}`;
}
