/**
 * The station's Ed25519 signing key (node:crypto). `fillgate keys init` calls
 * keysInit: it creates the pair once (never overwrites: a new key would break
 * the regulator's trust in the station's chain) and returns the public key PEM
 * to hand to the regulator.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';

export const PRIVATE_KEY_FILE = 'station-key.pem';
export const PUBLIC_KEY_FILE = 'station-key.pub.pem';

export interface KeysInitResult {
  created: boolean;
  privateKeyPath: string;
  publicKeyPath: string;
  publicKeyPem: string;
}

export function keysInit(dir: string): KeysInitResult {
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  if (existsSync(privateKeyPath)) {
    const publicKeyPem = publicKeyPemOf(loadPrivateKey(dir));
    if (!existsSync(publicKeyPath)) writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
    return { created: false, privateKeyPath, publicKeyPath, publicKeyPem };
  }
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // 'wx': fail rather than overwrite if another process created it meanwhile.
  writeFileSync(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, flag: 'wx' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
  return { created: true, privateKeyPath, publicKeyPath, publicKeyPem };
}

export function loadPrivateKey(dir: string): KeyObject {
  const path = join(dir, PRIVATE_KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    // Only a missing file is fixed by keys init; a directory or an unreadable file needs a person to look.
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const message = missing ? `no station signing key at ${path}: run "fillgate keys init" first` : `cannot read the station signing key ${path}: ${errorMessage(err)}`;
    throw new FillgateError('BAD_CONFIG', message, { path }, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new FillgateError('BAD_CONFIG', `${path} is not a PEM private key: ${errorMessage(err)}`, { path }, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new FillgateError('BAD_CONFIG', `${path} is not an Ed25519 key`, { path });
  return key;
}

/** `fillgate keys rotate` keeps a replaced private key under this name (key-rotation.ts). */
export const retiredKeyFile = (fp: string): string => `station-key.${fp}.retired.pem`;
const RETIRED_KEY_FILE = /^station-key\.[0-9a-f]+\.retired\.pem$/;

/**
 * Every key this station has signed with: the current one first, then the ones retired by key
 * rotations, so `fillgate records verify` still verifies what was signed before a rotation.
 */
export function stationPublicKeys(dir: string): KeyObject[] {
  const keys = [toPublicKey(loadPrivateKey(dir))];
  for (const name of readdirSync(dir).filter((n) => RETIRED_KEY_FILE.test(n)).sort()) {
    const path = join(dir, name);
    try {
      keys.push(createPublicKey(createPrivateKey(readFileSync(path, 'utf8'))));
    } catch (err) {
      throw new FillgateError('BAD_CONFIG', `${path} is not a PEM private key: ${errorMessage(err)}`, { path }, { cause: err });
    }
  }
  return keys;
}

/** A public key from a PEM string, a path to a PEM file, or a KeyObject. */
export function toPublicKey(key: string | KeyObject): KeyObject {
  if (typeof key !== 'string') return key.type === 'private' ? createPublicKey(key) : key;
  const pem = key.includes('-----BEGIN') ? key : readFileSync(key, 'utf8');
  const pub = createPublicKey(pem);
  if (pub.asymmetricKeyType !== 'ed25519') throw new FillgateError('BAD_CONFIG', 'station public key is not Ed25519', {});
  return pub;
}

/** A short, stable name of a public key: SHA-256 of its SPKI DER, 16 hex digits (the receiver names keys by it too). */
export function keyFingerprint(key: string | KeyObject): string {
  const der = toPublicKey(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export function publicKeyPemOf(key: KeyObject): string {
  return toPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
}
