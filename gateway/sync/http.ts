/**
 * One HTTP(S) POST with a hard deadline: a stalled connection (a proxy that
 * swallows bytes, a half-open TCP link) must fail within timeoutMs so the
 * uploader can back off and retry, rather than wait for TCP keep-alive
 * (domain.md 7: a dead link is noticed only after 1.5 × keep-alive).
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { FillgateError } from '../../protocols/errors.ts';

export interface HttpReply {
  status: number;
  text: string;
}

export interface PostOptions {
  timeoutMs: number;
  /** No byte sent or received for this long: fail with TIMEOUT (context.stalled) before timeoutMs. */
  stallMs?: number;
  ca?: string | Buffer;
  maxReplyBytes?: number;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1)$/i;

/** Records are signed, but who sees them is the platform's business: plain HTTP only on loopback unless allowed. */
export function checkUploadUrl(url: string, allowInsecure: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FillgateError('BAD_CONFIG', `upload.url "${url}" is not a URL`, { url });
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'http:' && (LOOPBACK.test(u.hostname) || allowInsecure)) return u;
  if (u.protocol === 'http:') throw new FillgateError('BAD_CONFIG', `upload.url ${url}: plain http is allowed only to a loopback host (set upload.allowInsecure to override)`, { url });
  throw new FillgateError('BAD_CONFIG', `upload.url ${url}: protocol must be https (or http on loopback)`, { url });
}

export class HttpPoster {
  private agent: HttpAgent | HttpsAgent;
  constructor(private readonly url: URL, private readonly opts: PostOptions) {
    this.agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, ca: opts.ca, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  post(contentType: string, body: string): Promise<HttpReply> {
    const maxReply = this.opts.maxReplyBytes ?? 16 * 1024 * 1024;
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<HttpReply>((resolve, reject) => {
      let settled = false;
      const done = (err: Error | undefined, reply?: HttpReply) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        clearInterval(watch);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(reply!);
      };
      const req = send(this.url, { method: 'POST', agent: this.agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxReply) done(new FillgateError('BAD_PAYLOAD', `reply larger than ${maxReply} bytes`, {}));
          else chunks.push(c);
        });
        res.on('end', () => done(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => done(e));
        res.on('aborted', () => done(new FillgateError('LINK_CLOSED', 'connection closed mid-reply', {})));
      });
      const deadline = setTimeout(() => done(new FillgateError('TIMEOUT', `no complete reply within ${this.opts.timeoutMs} ms`, { url: this.url.href })), this.opts.timeoutMs);
      // Stall watch: a proxy that swallows the request or a link that went quiet moves no bytes.
      const stallMs = this.opts.stallMs ?? Infinity;
      let moved = -1;
      let quietSince = performance.now();
      const watch = setInterval(() => {
        const s = req.socket;
        const now = performance.now();
        const total = s ? s.bytesWritten + s.bytesRead : 0;
        if (total !== moved) {
          moved = total;
          quietSince = now;
        } else if (now - quietSince >= stallMs) done(new FillgateError('TIMEOUT', `stalled: no byte moved for ${stallMs} ms`, { url: this.url.href, stalled: true }));
      }, Math.max(20, Math.min(250, stallMs / 4)));
      if (!Number.isFinite(stallMs)) clearInterval(watch);
      req.on('error', (e) => done(e));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
