/**
 * Helpers for the dashboard tests: users with cheap scrypt hashes, a cookie-keeping
 * HTTP client, and an SSE reader that collects events from GET /api/live.
 */
import { request } from 'node:http';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import type { HttpUser } from '../../gateway/http/config.ts';

export const passwords = { op: 'op-pass-1', sup: 'sup-pass-1', int: 'int-pass-1' } as const;

/** N = 1024 keeps logins fast in tests; production hashes use Node's default. */
export const testUsers = (): HttpUser[] => [
  { name: 'op', role: 'operator', passwordHash: hashPassword(passwords.op, 1024) },
  { name: 'sup', role: 'supervisor', passwordHash: hashPassword(passwords.sup, 1024) },
  { name: 'int', role: 'integrator', passwordHash: hashPassword(passwords.int, 1024) },
];

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export class Client {
  cookie = '';
  constructor(readonly base: string) {}

  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(this.base + path, {
      method,
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...(payload !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      body: payload,
    });
    const text = await res.text();
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json };
  }

  get = (path: string) => this.req('GET', path);
  post = (path: string, body?: unknown, headers?: Record<string, string>) => this.req('POST', path, body ?? {}, headers);

  async login(name: keyof typeof passwords): Promise<Reply> {
    return this.post('/api/login', { name, password: passwords[name] });
  }
}

export interface SseEvent {
  event: string;
  data: any;
  at: number;
}

/** Opens GET /api/live and collects parsed events until close(). */
export function openLive(base: string, cookie: string): Promise<{ status: number; events: SseEvent[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(base + '/api/live', { headers: { cookie, accept: 'text/event-stream' } }, (res) => {
      const events: SseEvent[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data: JSON.parse(data), at: Date.now() });
        }
      });
      res.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, events, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}
