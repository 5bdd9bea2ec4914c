/**
 * Small HTTP helpers for the dashboard's JSON API: replies, errors that carry
 * their text in both languages from the catalogue, and a body reader with a
 * size limit (a touch panel or a stray script cannot fill the PC's memory).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { both, type Message, type MessageKey, type Params } from '../../i18n/index.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly key: MessageKey,
    readonly params: Params = {},
    readonly extra: Record<string, unknown> = {},
    /** Text built per language (e.g. role names translated too); default the catalogue's text for `key`. */
    readonly text?: Message,
  ) {
    super(`${code}: ${key}`);
  }
}

export const badRequest = (detail: string) => new ApiError(400, 'BAD_REQUEST', 'err.badRequest', { detail });

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** `{ error: CODE, message: { zh, en }, ...extra }`: the screen shows message[lang], scripts match on `error`. */
export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: err.code, message: err.text ?? both(err.key, err.params), ...err.extra });
}

export async function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  return (await readBodyBytes(req, limitBytes)).toString('utf8');
}

/** The body's bytes: an upload is decoded where it is parsed (a worker), not on the event loop. */
export function readBodyBytes(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limitBytes) {
      reject(new ApiError(413, 'TOO_LARGE', 'err.badRequest', { detail: `body over ${limitBytes} bytes` }));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limitBytes) {
        reject(new ApiError(413, 'TOO_LARGE', 'err.badRequest', { detail: `body over ${limitBytes} bytes` }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function readJson(req: IncomingMessage, limitBytes: number): Promise<Record<string, unknown>> {
  const text = await readBody(req, limitBytes);
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw badRequest('expected a JSON object');
}
