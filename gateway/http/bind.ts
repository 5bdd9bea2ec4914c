/**
 * The gateway's HTTP port, bound on its own (issue 14): `fillgate start` binds it right after
 * the valves are written OFF and before any post starts, so a port in use fails the start
 * (valves written OFF again, exit 1) instead of a gateway that fills with no status or metrics
 * endpoint. Until server.ts takes the server over it answers 503. A module of its own so the
 * start loads the dashboard and the metrics only after the posts run.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';

/** The HTTP port, bound before the station starts its posts; answers 503 until the status server takes it over. */
export interface BoundHttp {
  readonly server: Server;
  readonly sockets: Set<Socket>;
  /** Frees the port (a start that failed after binding it). */
  close(): Promise<void>;
}

/** Binds the http section's host and port; rejects with the address and, for EADDRINUSE, what to do. */
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

