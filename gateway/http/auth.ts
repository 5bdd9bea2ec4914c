/**
 * Dashboard logins (issue 6 point 1): users and roles from the config, passwords
 * checked against scrypt hashes, sessions as signed cookies (HMAC-SHA256 from
 * node:crypto) with an expiry, and one table of which role may do what. Every
 * mutating route asks `can(role, action)`; the server never trusts the browser
 * to hide a button.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import { verifyPassword, hashPassword } from '../mqtt/password.ts';
import { dashboardRoles, type DashboardRole, type HttpUser } from './config.ts';

export const SESSION_COOKIE = 'fg_session';

/** What each role may do. Resets are a supervisor's decision (domain.md 5: the leak lock is reset by a supervisor). */
export const permissions = {
  view: ['operator', 'supervisor', 'integrator'],
  exportRecords: ['operator', 'supervisor', 'integrator'],
  resetPost: ['supervisor'],
  resetLeak: ['supervisor'],
  resetStore: ['supervisor'],
  importRegistry: ['supervisor', 'integrator'],
  closeException: ['supervisor'],
  recordDecant: ['supervisor'],
} as const satisfies Record<string, readonly DashboardRole[]>;
export type Action = keyof typeof permissions;

export function can(role: DashboardRole, action: Action): boolean {
  return (permissions[action] as readonly DashboardRole[]).includes(role);
}

export interface Session {
  name: string;
  role: DashboardRole;
  /** Wall-clock epoch ms after which the cookie is refused. */
  expiresAt: number;
  /** Random id of this login, so a logout can revoke it. */
  id: string;
}

export interface SessionKeeperOptions {
  /** Signing key; absent = random per process (every session ends with the process). */
  secret?: string;
  ttlMs: number;
  clock?: Clock;
  /** Current users: a session of a user since removed or given another role is refused. */
  users: () => readonly HttpUser[];
}

/** Issues and checks `payload.signature` cookies; no server-side session table except revoked logouts. */
export class SessionKeeper {
  private readonly key: Buffer;
  private readonly clock: Clock;
  private readonly revoked = new Map<string, number>();

  constructor(private readonly opts: SessionKeeperOptions) {
    this.key = opts.secret ? Buffer.from(opts.secret, 'utf8') : randomBytes(32);
    this.clock = opts.clock ?? systemClock;
  }

  issue(user: { name: string; role: DashboardRole }): { token: string; session: Session } {
    const session: Session = { name: user.name, role: user.role, expiresAt: Math.round(this.clock.wall() + this.opts.ttlMs), id: randomBytes(9).toString('base64url') };
    const payload = Buffer.from(JSON.stringify({ n: session.name, r: session.role, e: session.expiresAt, i: session.id })).toString('base64url');
    return { token: `${payload}.${this.sign(payload)}`, session };
  }

  /** The session a token stands for, or undefined when it is forged, altered, expired, revoked or its user is gone. */
  verify(token: string | undefined): Session | undefined {
    const payload = signedPayload(token, (p) => this.sign(p));
    if (payload === undefined) return undefined;
    let body: { n?: unknown; r?: unknown; e?: unknown; i?: unknown };
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const { n, r, e, i } = body;
    if (typeof n !== 'string' || typeof e !== 'number' || typeof i !== 'string' || !dashboardRoles.includes(r as DashboardRole)) return undefined;
    if (this.clock.wall() >= e || this.revoked.has(i)) return undefined;
    const user = this.opts.users().find((u) => u.name === n);
    if (!user || user.role !== r) return undefined;
    return { name: n, role: r as DashboardRole, expiresAt: e, id: i };
  }

  revoke(session: Session): void {
    const now = this.clock.wall();
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
    this.revoked.set(session.id, session.expiresAt);
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

/** A hash nobody's password matches, checked for unknown names so a login takes as long whether or not the name exists. */
let decoyHash: string | undefined;

export async function checkLogin(users: readonly HttpUser[], name: string, password: string): Promise<HttpUser | undefined> {
  const user = users.find((u) => u.name === name);
  if (!user) {
    decoyHash ??= hashPassword(randomBytes(16).toString('hex'));
    await verifyPassword(password, decoyHash);
    return undefined;
  }
  return (await verifyPassword(password, user.passwordHash)) ? user : undefined;
}

/** Slows password guessing: after `max` failures for one name from one address within `windowMs`, refuse until the window has passed. */
export class LoginThrottle {
  private failures = new Map<string, number[]>();

  constructor(private readonly max = 5, private readonly windowMs = 5 * 60_000, private readonly clock: Clock = systemClock) {}

  blocked(key: string): boolean {
    return this.recent(key).length >= this.max;
  }

  fail(key: string): void {
    const list = this.recent(key);
    list.push(this.clock.now());
    this.failures.set(key, list);
    // Bounded memory under a spray of names: forget the oldest keys.
    if (this.failures.size > 1000) this.failures.delete(this.failures.keys().next().value as string);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const since = this.clock.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    try {
      out[k] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // a malformed cookie from another app on the same host: ignore it
    }
  }
  return out;
}

/** HttpOnly (no script reads it), SameSite=Strict (no other site's form can post with it). Not Secure: the station LAN is plain HTTP. */
export function sessionCookie(token: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`;
}

export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/**
 * The payload of a `payload.signature` session token when its HMAC signature is right (compared in
 * constant time), else undefined. Shared by the dashboard's sessions and the receiver's.
 */
export function signedPayload(token: string | undefined, sign: (payload: string) => string): string | undefined {
  if (!token || token.length > 1024) return undefined;
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = Buffer.from(sign(payload), 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected) ? payload : undefined;
}
