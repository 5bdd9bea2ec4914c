/**
 * Remote commands from the regulator or the company (issue 10 point 9; DB4114/T 185 §4.10
 * asks for remote control of filling). A command arrives on `fillgate/<st>/gateway/cmd`:
 *
 *   {v:1, station, keyId, seq, issuedAt, transaction, command, data?, sig}
 *
 * signed with Ed25519 over the canonical JSON of everything but `sig` (the same canonical
 * form as the records: gateway/records/canonical.ts) by a key the station config trusts
 * (`remote.trustedKeys`). `seq` increases per key (replay protection, kept in station.db);
 * `issuedAt` must be within `remote.maxSkewMs` of the station clock.
 */
import { createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { canonicalJson } from '../records/canonical.ts';
import { toPublicKey } from '../records/keys.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';

export const remoteCommands = ['lock', 'unlock', 'quarantine', 'release', 'status'] as const;
export type RemoteCommandName = (typeof remoteCommands)[number];

const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 'ISO 8601 date-time with zone');
const text = z.string().min(1).max(128);

export const remoteCommandSchema = z.strictObject({
  v: z.literal(1),
  station: text,
  keyId: text,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  issuedAt: isoTime,
  transaction: text,
  command: z.enum(remoteCommands),
  data: z.strictObject({ code: text.optional(), reason: z.string().max(256).optional() }).optional(),
  sig: z.string().max(200).optional(),
});
export type RemoteCommand = z.infer<typeof remoteCommandSchema>;
export type UnsignedCommand = Omit<RemoteCommand, 'sig'>;

export const remoteConfigSchema = z.object({
  trustedKeys: z
    .array(
      z
        .object({
          id: text.describe('Key id the command names in keyId'),
          publicKeyPem: z.string().optional().describe('The Ed25519 public key (SPKI PEM)'),
          file: z.string().optional().describe('Or a file holding it'),
        })
        .refine((k) => !!k.publicKeyPem !== !!k.file, 'give publicKeyPem or file, not both'),
    )
    .default([])
    .describe('Keys whose signed commands the station obeys (the regulator, the company); none = every command is refused'),
  maxSkewMs: z.number().int().min(1000).max(86_400_000).default(300_000).describe('A command issued further than this from the station clock is refused as stale (ms; 5 min)'),
});
export type RemoteConfig = z.infer<typeof remoteConfigSchema>;

/** Key id → public key; a bad key is a config error naming the id. */
export function loadTrustedKeys(cfg: RemoteConfig): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  for (const k of cfg.trustedKeys) {
    try {
      out.set(k.id, toPublicKey(k.publicKeyPem ?? readFileSync(k.file!, 'utf8')));
    } catch (err) {
      throw new FillgateError('BAD_CONFIG', `remote.trustedKeys ${k.id}: ${errorMessage(err)}`, { id: k.id }, { cause: err });
    }
  }
  return out;
}

export function commandSignedBytes(c: UnsignedCommand | RemoteCommand): string {
  const { sig: _sig, ...body } = c as RemoteCommand;
  return canonicalJson(body);
}

export function signCommand(body: UnsignedCommand, privateKey: KeyObject | string): RemoteCommand {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const sig = sign(null, Buffer.from(commandSignedBytes(body), 'utf8'), key).toString('base64');
  return { ...body, sig };
}

export function verifyCommand(c: RemoteCommand, key: KeyObject): boolean {
  if (!c.sig) return false;
  try {
    return verify(null, Buffer.from(commandSignedBytes(c), 'utf8'), key, Buffer.from(c.sig, 'base64'));
  } catch {
    return false;
  }
}
