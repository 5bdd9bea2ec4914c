/**
 * Device passwords are stored only as `scrypt$N$salt$hash` (issue 4 point 1: never in plain
 * text). scrypt from node:crypto, a fresh 16-byte salt per device, 32-byte key, all base64url.
 * Verification is constant-time.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const KEY_LEN = 32;
/** scrypt cost; 2^14 is Node's default and costs ~30 ms here, paid once per CONNECT. */
const DEFAULT_N = 16384;

export const PASSWORD_HASH_PATTERN = /^scrypt\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/;

export function hashPassword(password: string, n = DEFAULT_N): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, KEY_LEN, { N: n, maxmem: 256 * n * 8 });
  return `scrypt$${n}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

function parse(stored: string): { n: number; salt: Buffer; expected: Buffer } | undefined {
  if (!PASSWORD_HASH_PATTERN.test(stored)) return undefined;
  const [, nText, saltText, keyText] = stored.split('$');
  const n = Number(nText);
  // Refuse absurd costs from a tampered config rather than hang the broker.
  if (!Number.isInteger(n) || n < 2 || n > 1 << 20 || (n & (n - 1)) !== 0) return undefined;
  return { n, salt: Buffer.from(saltText, 'base64url'), expected: Buffer.from(keyText, 'base64url') };
}

/** Checks a password against a stored hash off the event loop (the broker calls this per CONNECT). */
export function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const p = parse(stored);
  if (!p) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(password, p.salt, p.expected.length, { N: p.n, maxmem: 256 * p.n * 8 }, (err, key) => {
      resolve(!err && key.length === p.expected.length && timingSafeEqual(key, p.expected));
    });
  });
}
