/**
 * The gateway's HTTP endpoint on the station LAN: the station dashboard (its
 * screens and /api/, gateway/http/dashboard/), JSON status and Prometheus
 * metrics for machines, and the post reset. Loopback by default (config http);
 * 0.0.0.0 to reach the posts' touch panels.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Station } from '../runtime/station.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { bindHttp, type BoundHttp } from './bind.ts';
import { stationStatus } from './status.ts';
import { serveMetrics } from './metrics.ts';
import { httpSchema, type HttpConfig } from './config.ts';
import { Dashboard } from './dashboard/routes.ts';

export interface StatusServer {
  url: string;
  dashboard: Dashboard;
  close(): Promise<void>;
}

/**
 * `opts` is the config's `http` section; a partial one (tests: `{ host, port: 0 }`) takes the defaults for the rest.
 * `bound`: the port bound earlier by bindHttp (fillgate start); without it the port is bound here.
 */
export async function startStatusServer(station: Station, opts: Partial<HttpConfig> & { host: string; port: number }, bound?: BoundHttp): Promise<StatusServer> {
  const http = httpSchema.parse(opts);
  const log = station.logs('http');
  const { server, sockets } = bound ?? (await bindHttp(http));
  const dashboard = new Dashboard(station, http, log);
  dashboard.start();
  const send = (res: ServerResponse, code: number, body: unknown, type = 'application/json') => {
    res.writeHead(code, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  };
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      return send(res, 400, { error: 'bad request line' });
    }
    const machine = (): boolean => {
      if (req.method === 'GET' && url.pathname === '/status') return send(res, 200, stationStatus(station)), true;
      if (req.method === 'GET' && url.pathname === '/metrics') return serveMetrics(station, res), true;
      return false;
    };
    Promise.resolve()
      .then(async () => {
        if (machine()) return;
        // The old POST /posts/:id/reset is the dashboard's reset, with its session and role check.
        if (/^\/posts\/[^/]+\/reset$/.test(url.pathname)) url.pathname = `/api${url.pathname}`;
        if (await dashboard.handle(req, res, url)) return;
        send(res, 404, { error: 'not found', endpoints: ['GET / (dashboard)', 'GET /status', 'GET /metrics', 'POST /api/posts/:id/reset'] });
      })
      .catch((err) => {
        log.error({ err: errorMessage(err), path: url.pathname }, 'http request failed');
        if (!res.headersSent) send(res, 500, { error: errorMessage(err) });
        else res.destroy();
      });
  };
  server.removeAllListeners('request');
  server.on('request', serve);
  // Idle keep-alive connections stay open longer than clients wait between requests (a panel's
  // poll, Prometheus' scrape interval): a server closing an idle socket just as a client reuses it
  // makes the client's request fail with ECONNRESET (Node's default is 5 s).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const a = server.address() as AddressInfo;
  const host = http.host.includes(':') ? `[${http.host}]` : http.host;
  return {
    url: `http://${host}:${a.port}`,
    dashboard,
    close: () =>
      new Promise((r) => {
        // Live screens hold their streams open: end them so close() does not wait for the panels.
        dashboard.stop();
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}
