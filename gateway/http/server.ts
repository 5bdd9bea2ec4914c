/**
 * The gateway's HTTP endpoint on the station LAN: the station dashboard (its
 * screens and /api/, gateway/http/dashboard/), JSON status and Prometheus
 * metrics for machines, and the post reset. Loopback by default (config http);
 * 0.0.0.0 to reach the posts' touch panels.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Station } from '../runtime/station.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { stationStatus } from './status.ts';
import { serveMetrics } from './metrics.ts';
import { httpSchema, type HttpConfig } from './config.ts';
import { Dashboard } from './dashboard/routes.ts';

export interface StatusServer {
  url: string;
  dashboard: Dashboard;
  close(): Promise<void>;
}

/** The HTTP port, bound before the station starts its posts; answers 503 until the status server takes it over. */
export interface BoundHttp {
  readonly server: Server;
  readonly sockets: Set<Socket>;
  /** Frees the port (a start that failed after binding it). */
  close(): Promise<void>;
}

/**
 * Binds the http section's host and port (issue 14): `fillgate start` does this right after the
 * valves are written OFF and before any post starts, so a port in use fails the start (valves
 * written OFF again, exit 1) instead of a gateway that fills with no status or metrics endpoint.
 */
export async function bindHttp(opts: { host: string; port: number }): Promise<BoundHttp> {
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end('{"error":"starting"}');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ' (the port is in use: another fillgate or another program listens there; stop it or change http.port)' : '';
      reject(new FillgateError('BAD_CONFIG', `cannot listen on http ${opts.host}:${opts.port}: ${err.code ?? errorMessage(err)}${hint}`, { host: opts.host, port: opts.port }, { cause: err }));
    };
    server.once('error', failed);
    server.listen(opts.port, opts.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  return {
    server,
    sockets,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
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
