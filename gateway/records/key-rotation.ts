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
 * The gateway must be stopped while this runs (records it signed with the old key after `at`
 * would be refused once the handover is in, KEY_REVOKED): the command refuses to run while a
 * gateway holds the data dir's lock (data-lock.ts), and holds that lock itself meanwhile.
 * The record chain goes on unchanged: the next record links to the last one, signed by the new key.
 *
 * A rotation the receiver did not answer finishes by itself: a gateway that starts with a
 * handover queued signs with the new key at once (`signingKey`), and its uploaders send the
 * handover before any batch (`HandoverGate`), records and events alike; nothing signed by the
 * new key leaves the station before the receiver has accepted the handover. Step 4 then runs
 * in the gateway.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHandover, type KeyHandover } from '../receiver/keys.ts';
import { HttpPoster, checkUploadUrl } from '../sync/http.ts';
import { causeOf, httpCause, type FailureCause } from '../sync/uploader.ts';
import type { Logger } from '../log.ts';
import { keyFingerprint, loadPrivateKey, publicKeyPemOf, retiredKeyFile, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './keys.ts';

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
export async function sendHandover(url: string, h: KeyHandover, opts: { allowInsecure?: boolean; ca?: string | Buffer; timeoutMs?: number } = {}): Promise<{ ok: boolean; status?: number; message: string; cause?: FailureCause }> {
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
    return { ok: reply.status === 200, status: reply.status, message, ...(reply.status === 200 ? {} : { cause: httpCause(reply.status) }) };
  } catch (err) {
    return { ok: false, message: (err as Error).message, cause: causeOf(err) };
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
  const retiredPath = join(dir, retiredKeyFile(oldFp));
  renameSync(join(dir, PRIVATE_KEY_FILE), retiredPath);
  renameSync(nextPath, join(dir, PRIVATE_KEY_FILE));
  writeFileSync(join(dir, PUBLIC_KEY_FILE), publicKeyPemOf(next), { mode: 0o644 });
  rmSync(join(dir, HANDOVER_FILE), { force: true });
  return { oldFp, newFp: keyFingerprint(publicKeyPemOf(next)), retiredPath };
}

/** A rotation is queued: a new key and its handover wait in the data dir. */
export function rotationPending(dir: string): boolean {
  return existsSync(join(dir, HANDOVER_FILE)) && existsSync(join(dir, NEXT_KEY_FILE));
}

/** The key a starting gateway signs with: the new one while its handover is queued (the uploaders send it first). */
export function signingKey(dir: string): { key: KeyObject; pending: boolean } {
  if (!rotationPending(dir)) return { key: loadPrivateKey(dir), pending: false };
  return { key: createPrivateKey(readFileSync(join(dir, NEXT_KEY_FILE), 'utf8')), pending: true };
}

export type GateResult = { ok: true } | { ok: false; error: string; cause: FailureCause };

/**
 * The uploaders' gate (sync/uploader.ts `before`): while a handover is queued, send it before
 * any batch; on the receiver's 200, install the new key (step 4) and open. One send at a time,
 * shared by the record and event uploaders.
 */
export class HandoverGate {
  private inFlight?: Promise<GateResult>;

  constructor(private readonly opts: { dir: string; station: string; recordsUrl: string; allowInsecure?: boolean; ca?: string | Buffer; timeoutMs?: number; log?: Logger }) {}

  settle(): Promise<GateResult> {
    if (!rotationPending(this.opts.dir)) return Promise.resolve({ ok: true });
    return (this.inFlight ??= this.send().finally(() => (this.inFlight = undefined)));
  }

  private async send(): Promise<GateResult> {
    const { dir, log } = this.opts;
    if (!rotationPending(dir)) return { ok: true };
    const h = JSON.parse(readFileSync(join(dir, HANDOVER_FILE), 'utf8')) as KeyHandover;
    const url = handoverUrlFor(this.opts.recordsUrl, this.opts.station);
    const sent = await sendHandover(url, h, { allowInsecure: this.opts.allowInsecure, ca: this.opts.ca, timeoutMs: this.opts.timeoutMs });
    if (!sent.ok) {
      return { ok: false, error: `key handover not accepted yet (${sent.status ?? 'no answer'}: ${sent.message}); uploads wait for it`, cause: sent.cause ?? 'other' };
    }
    const done = installRotation(dir);
    log?.info({ oldKey: done.oldFp, newKey: done.newFp, retired: done.retiredPath, at: h.at }, `key handover accepted by ${url}: key ${done.newFp} is now the station key`);
    return { ok: true };
  }
}
