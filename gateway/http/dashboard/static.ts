/**
 * The dashboard's own files (public/): plain HTML, CSS and JavaScript modules,
 * no build step, nothing from a CDN, so a station with no internet shows the
 * same screens (issue 6 point 1). Read once at start and kept in memory with
 * an ETag: a touch panel reloading costs a 304 on a modest industrial PC.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { packageRoot } from '../../paths.ts';
import { extname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** In the source tree also when running from dist/ (tsc compiles only the TypeScript). */
export const PUBLIC_DIR = join(packageRoot, 'gateway/http/dashboard/public');

export class StaticFiles {
  private assets = new Map<string, Asset>();

  constructor(dir = PUBLIC_DIR) {
    for (const name of readdirSync(dir)) {
      const type = types[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      this.assets.set(`/${name}`, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
    }
  }

  /** Serves `/` (index.html) and `/<file>`; false when the path is not one of ours. Names come from the map, never from the path, so no traversal. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const asset = this.assets.get(path === '/' ? '/index.html' : path);
    if (!asset) return false;
    const headers = {
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // Everything the screens need is on this gateway: scripts, styles and connections stay here.
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }

  names(): string[] {
    return [...this.assets.keys()];
  }
}
