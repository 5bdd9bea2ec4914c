/**
 * The gateway's HTTP endpoint on the station LAN: JSON status, Prometheus
 * metrics, and the supervisor's post reset. Loopback by default (config http).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Station } from '../runtime/station.ts';
import { stationStatus } from './status.ts';
import { metricsText } from './metrics.ts';

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export async function startStatusServer(station: Station, opts: { host: string; port: number }): Promise<StatusServer> {
  const server = createServer((req, res) => {
    const send = (code: number, body: unknown, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/status') return send(200, stationStatus(station));
      if (req.method === 'GET' && url.pathname === '/metrics') return send(200, metricsText(station), 'text/plain; version=0.0.4');
      const m = /^\/posts\/([^/]+)\/reset$/.exec(url.pathname);
      if (req.method === 'POST' && m) {
        if (!station.posts.has(m[1])) return send(404, { error: `no post ${m[1]}` });
        station.resetPost(m[1]);
        return send(200, { ok: true });
      }
      send(404, { error: 'not found', endpoints: ['GET /status', 'GET /metrics', 'POST /posts/:id/reset'] });
    } catch (err) {
      send(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${a.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
