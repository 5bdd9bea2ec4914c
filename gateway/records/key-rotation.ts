/**
 * The station's side of key rotation (issue 11 point 5; the receiver's side is
 * gateway/receiver/keys.ts): `fillgate keys rotate --config <file>`.
 *
 *  1. A new Ed25519 pair is made once and kept aside (`station-key.next.pem`) until the
 *     receiver has accepted it: a rotation that cannot reach the receiver changes nothing
 *     at the station, and running the command again uses the same new key.
 *  2. A handover `{type:"key-handover", v:1, station, newPublicKey, at, sig}` is signed by the
 *     current key (`at` = now) and written to `key-handover.json` (the queue: it is what the
 *     next run sends if this one fails).
 *  3. It is POSTed to the receiver's `/v1/stations/:code/keys/handover` (beside `upload.url`).
 *     200 means the receiver made the new key current and refuses the old key's records made
 *     after `at`; a handover it had already accepted (an answer lost on the way) is answered 200
 *     again.
 *  4. Only then the new key replaces `station-key.pem` / `station-key.pub.pem`; the old private
 *     key is kept as `station-key.<fp>.retired.pem` (the records it signed still verify with its
 *     public key, which the receiver keeps).
 *
 * The gateway must be stopped while this runs: records it signs with the old key after `at`
 * are refused by the receiver once the handover is in (KEY_REVOKED). The record chain goes on
 * unchanged: the next record links to the last one, signed by the new key.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFingerprint, makeHandover, type KeyHandover } from '../receiver/keys.ts';
import { HttpPoster, checkUploadUrl } from '../sync/http.ts';
import { loadPrivateKey, publicKeyPemOf, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './keys.ts';

export const NEXT_KEY_FILE = 'station-key.next.pem';
export const HANDOVER_FILE = 'key-handover.json';

export interface PendingRotation {
  handover: KeyHandover;
  oldFp: string;
  newFp: string;
  /** The new key was made by this call (not left from an earlier, unfinished run). */
  created: boolean;
}

/** Steps 1-2: the new key (made once) and a handover signed now by the current key, written to the queue file. */
export function prepareRotation(dir: string, station: string, atMs: number): PendingRotation {
  const current = loadPrivateKey(dir);
  const nextPath = join(dir, NEXT_KEY_FILE);
  let created = false;
  if (!existsSync(nextPath)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(nextPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  const next = createPrivateKey(readFileSync(nextPath, 'utf8'));
  const handover = makeHandover(station, current, publicKeyPemOf(next), atMs);
  writeFileSync(join(dir, HANDOVER_FILE), JSON.stringify(handover, null, 2) + '\n', { mode: 0o644 });
  return { handover, oldFp: keyFingerprint(publicKeyPemOf(current)), newFp: keyFingerprint(publicKeyPemOf(next)), created };
}

/** The handover route beside the records route: `https://rx/v1/records` → `https://rx/v1/stations/ST01/keys/handover`. */
export function handoverUrlFor(recordsUrl: string, station: string): string {
  const u = new URL(recordsUrl);
  const path = `stations/${encodeURIComponent(station)}/keys/handover`;
  u.pathname = /\/records\/?$/.test(u.pathname) ? u.pathname.replace(/records\/?$/, path) : `/v1/${path}`;
  return u.href;
}

/** Step 3: send the handover; `ok` only on the receiver's 200. */
export async function sendHandover(url: string, h: KeyHandover, opts: { allowInsecure?: boolean; ca?: string | Buffer; timeoutMs?: number } = {}): Promise<{ ok: boolean; status?: number; message: string }> {
  const poster = new HttpPoster(checkUploadUrl(url, opts.allowInsecure ?? false), { timeoutMs: opts.timeoutMs ?? 15_000, ca: opts.ca });
  try {
    const reply = await poster.post('application/json', JSON.stringify(h));
    let message = reply.text;
    try {
      const j = JSON.parse(reply.text) as { error?: string; key?: { fp: string } };
      message = j.error ?? `new key ${j.key?.fp ?? ''} is current`.trim();
    } catch {
      /* not JSON: the text as it came */
    }
    return { ok: reply.status === 200, status: reply.status, message };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  } finally {
    poster.close();
  }
}

/** Step 4: the accepted new key becomes the station key; the old private key is kept, renamed. */
export function installRotation(dir: string): { oldFp: string; newFp: string; retiredPath: string } {
  const nextPath = join(dir, NEXT_KEY_FILE);
  const old: KeyObject = loadPrivateKey(dir);
  const oldFp = keyFingerprint(publicKeyPemOf(old));
  const next = createPrivateKey(readFileSync(nextPath, 'utf8'));
  const retiredPath = join(dir, `station-key.${oldFp}.retired.pem`);
  renameSync(join(dir, PRIVATE_KEY_FILE), retiredPath);
  renameSync(nextPath, join(dir, PRIVATE_KEY_FILE));
  writeFileSync(join(dir, PUBLIC_KEY_FILE), publicKeyPemOf(next), { mode: 0o644 });
  rmSync(join(dir, HANDOVER_FILE), { force: true });
  return { oldFp, newFp: keyFingerprint(publicKeyPemOf(next)), retiredPath };
}
