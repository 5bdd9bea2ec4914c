/**
 * The receiver's own logins for the inspector's reports (issue 10 point 10).
 * Users and roles come from the receiver's options (`--user`, `--users`),
 * passwords only as scrypt hashes (`fillgate mqtt hash-password`, the format
 * of gateway/mqtt/password.ts); a login is an HMAC-signed session cookie with
 * an expiry, like the station dashboard's (gateway/http/auth.ts), under its
 * own cookie name. Stations never log in: their uploads stay authenticated by
 * their record signatures.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { hashPassword, PASSWORD_HASH_PATTERN, verifyPassword } from '../mqtt/password.ts';
import { LoginThrottle, parseCookies, signedPayload } from '../http/auth.ts';

export { LoginThrottle };

/** inspector: reads every report; admin: the same (registration of station keys comes with issue 11). */
export const receiverRoles = ['inspector', 'admin'] as const;
export type ReceiverRole = (typeof receiverRoles)[number];

export const receiverUserSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits, . _ @ - only (max 64)'),
  role: z.enum(receiverRoles),
  passwordHash: z.string().regex(PASSWORD_HASH_PATTERN, 'a hash from `fillgate mqtt hash-password` (scrypt$N$salt$hash), never the password'),
});
export type ReceiverUser = z.infer<typeof receiverUserSchema>;

/** `NAME:ROLE:scrypt$…` (the --user option). */
export function parseUserOption(v: string): ReceiverUser {
  const [name, role, ...hash] = v.split(':');
  const r = receiverUserSchema.safeParse({ name, role, passwordHash: hash.join(':') });
  if (!r.success) throw new Error(`--user wants NAME:ROLE:HASH with ROLE ${receiverRoles.join('|')} and HASH from \`fillgate mqtt hash-password\`: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`);
  return r.data;
}

/** A JSON file `[{name, role, passwordHash}]` (the --users option). */
export function readUsersFile(path: string): ReceiverUser[] {
  const r = z.array(receiverUserSchema).safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!r.success) throw new Error(`${path}: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`);
  return r.data;
}

export const RX_SESSION_COOKIE = 'fgrx_session';

export interface RxSession {
  name: string;
  role: ReceiverRole;
  expiresAt: number;
}

export class ReceiverAuth {
  private readonly key: Buffer;
  readonly throttle = new LoginThrottle();
  private decoy?: string;

  constructor(
    private readonly users: readonly ReceiverUser[],
    private readonly opts: { secret?: string; ttlMs?: number; now?: () => number } = {},
  ) {
    this.key = opts.secret ? Buffer.from(opts.secret, 'utf8') : randomBytes(32);
  }

  get ttlMs(): number {
    return this.opts.ttlMs ?? 12 * 3_600_000;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The user for a name and password, or undefined; an unknown name costs as much as a wrong password. */
  async check(name: string, password: string): Promise<ReceiverUser | undefined> {
    const user = this.users.find((u) => u.name === name);
    if (!user) {
      this.decoy ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPassword(password, this.decoy);
      return undefined;
    }
    return (await verifyPassword(password, user.passwordHash)) ? user : undefined;
  }

  issue(user: ReceiverUser): { cookie: string; session: RxSession } {
    const session: RxSession = { name: user.name, role: user.role, expiresAt: this.now() + this.ttlMs };
    const payload = Buffer.from(JSON.stringify({ n: session.name, r: session.role, e: session.expiresAt, i: randomBytes(6).toString('base64url') })).toString('base64url');
    const token = `${payload}.${this.sign(payload)}`;
    return { cookie: `${RX_SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.ttlMs / 1000)}`, session };
  }

  /** The session of a request's cookie, or undefined (none, forged, expired, user removed or re-roled). */
  session(cookieHeader: string | undefined): RxSession | undefined {
    const payload = signedPayload(parseCookies(cookieHeader)[RX_SESSION_COOKIE], (p) => this.sign(p));
    if (payload === undefined) return undefined;
    let b: { n?: unknown; r?: unknown; e?: unknown };
    try {
      b = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof b.n !== 'string' || typeof b.e !== 'number' || this.now() >= b.e) return undefined;
    const user = this.users.find((u) => u.name === b.n);
    if (!user || user.role !== b.r) return undefined;
    return { name: user.name, role: user.role, expiresAt: b.e };
  }

  static clearCookie(): string {
    return `${RX_SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
