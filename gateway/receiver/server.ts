/**
 * `fillgate receiver`: the HTTP endpoint regulators (and our tests) run.
 *   POST /v1/records                         NDJSON (one v1 record per line, application/x-ndjson)
 *                                            or JSON {records:[v1…]} → {results:[{id,seq,status,reason?,message?}]}
 *   GET  /v1/stations                        per-station report (gaps, late uploads, last record time)
 *   GET  /v1/stations/:code                  one station's report
 *   GET  /v1/stations/:code/records?from=&to=&format=csv|json   export for a period
 *   GET  /healthz
 *   /login, /v1/reports/…, /reports/…        the inspector's reports (report-http.ts), behind the receiver's own login
 * The reply to POST is sent only after the accepted records are committed
 * (synchronous=FULL): an acknowledgement is a promise that they are kept.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { formatRecords, parseTimeBound } from '../records/export.ts';
import { ReceiverStore, type ReceiverStoreOptions } from './store.ts';
import { ReceiverEvents } from './events.ts';
import { ReportHttp, type ReportHttpOptions } from './report-http.ts';
import { SqliteReportSource } from './report-source.ts';
import type { ReportSource } from './reports.ts';

export interface ReceiverOptions extends Partial<Omit<ReceiverStoreOptions, 'dbPath'>> {
  port?: number;
  host?: string;
  dbPath: string;
  stations?: Record<string, string>;
  /** Largest accepted request body (bytes). */
  maxBodyBytes?: number;
  /** Serve HTTPS with this key and certificate (PEM); otherwise plain HTTP (behind a TLS-terminating balancer). */
  tls?: { key: string; cert: string };
  /** Who may log in to the inspector's reports, with roles; sessions, page language, refill interval. */
  reports?: Omit<ReportHttpOptions, 'settings'> & { refillIntervalMs?: number };
}

export interface RunningReceiver {
  url: string;
  port: number;
  store: ReceiverStore;
  /** The station event chains (events.ts). */
  events: ReceiverEvents;
  /** What the inspector's reports read (reports.ts). */
  reports: ReportSource;
  close(): Promise<void>;
}

export async function startReceiver(opts: ReceiverOptions): Promise<RunningReceiver> {
  const store = new ReceiverStore({ ...opts, verifyThreads: opts.verifyThreads ?? 2 });
  await store.ready();
  const events = new ReceiverEvents(store.db, opts.now);
  const maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const reports = new SqliteReportSource(store.db, store.lateAfterMs);
  const { refillIntervalMs, ...reportOpts } = opts.reports ?? {};
  const reportHttp = new ReportHttp(reports, () => store.stationCodes().map((c) => store.report(c)), {
    ...reportOpts,
    settings: refillIntervalMs === undefined ? undefined : { refillIntervalMs },
  });
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const handled = routeEvents(events, req, res, maxBody);
    if (handled) return void handled.catch((err: Error) => send(res, 500, { error: `internal error: ${err.message}` }));
    const report = reportHttp.handle(req, res);
    if (report) return void report.catch((err: Error) => send(res, 500, { error: `internal error: ${err.message}` }));
    route(store, req, res, maxBody).catch((err: Error) => send(res, 500, { error: `internal error: ${err.message}` }));
  };
  const server: Server = opts.tls ? createHttpsServer(opts.tls, handler) : createHttpServer(handler);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host}:${addr.port}`,
    port: addr.port,
    store,
    events,
    reports,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await store.close();
    },
  };
}

async function route(store: ReceiverStore, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (req.method === 'POST' && url.pathname === '/v1/records') return postRecords(store, req, res, maxBody);
  if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/healthz') return send(res, 200, { ok: true });
  if (parts[0] === 'v1' && parts[1] === 'stations') {
    if (parts.length === 2) return send(res, 200, { stations: store.stationCodes().map((c) => store.report(c)) });
    if (parts.length === 3) return send(res, 200, store.report(parts[2]));
    if (parts.length === 4 && parts[3] === 'records') return exportStation(store, parts[2], url, res);
  }
  send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
}

/** The event routes (events.ts); undefined when the request is not one of them. */
function routeEvents(events: ReceiverEvents, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<void> | undefined {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (req.method === 'POST' && url.pathname === '/v1/events') return postEvents(events, req, res, maxBody);
  if (req.method === 'GET' && parts.length === 4 && parts[0] === 'v1' && parts[1] === 'stations' && parts[3] === 'events') {
    return (async () => {
      let from: number | undefined;
      let to: number | undefined;
      try {
        from = parseTimeBound(url.searchParams.get('from') ?? undefined, 'from');
        to = parseTimeBound(url.searchParams.get('to') ?? undefined, 'to');
      } catch (err) {
        return send(res, 400, { error: (err as Error).message });
      }
      send(res, 200, { report: events.report(parts[2]), events: events.events(parts[2], from, to, url.searchParams.get('kind') ?? undefined) });
    })();
  }
  return undefined;
}

async function postEvents(events: ReceiverEvents, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody) return send(res, 413, { error: `body larger than ${maxBody} bytes: send smaller batches` });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (/ndjson/i.test(req.headers['content-type'] ?? '')) return send(res, 200, { results: events.ingestLines(text.split('\n').filter((l) => l.trim().length > 0)) });
  let body: { events?: unknown };
  try {
    body = JSON.parse(text) as { events?: unknown };
  } catch {
    return send(res, 400, { error: 'body is not JSON' });
  }
  if (!body || !Array.isArray(body.events)) return send(res, 400, { error: 'body must be {"events": [...]} or NDJSON' });
  send(res, 200, { results: events.ingest(body.events) });
}

async function postRecords(store: ReceiverStore, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody) return send(res, 413, { error: `body larger than ${maxBody} bytes: send smaller batches` });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (/ndjson/i.test(req.headers['content-type'] ?? '')) {
    // Each line is kept as sent: the stored record is byte for byte what the station signed and sent.
    return send(res, 200, { results: await store.ingestLines(text.split('\n').filter((l) => l.trim().length > 0)) });
  }
  let body: { records?: unknown };
  try {
    body = JSON.parse(text) as { records?: unknown };
  } catch {
    return send(res, 400, { error: 'body is not JSON' });
  }
  if (!body || !Array.isArray(body.records)) return send(res, 400, { error: 'body must be {"records": [...]} or NDJSON' });
  send(res, 200, { results: await store.ingest(body.records) });
}

function exportStation(store: ReceiverStore, station: string, url: URL, res: ServerResponse): void {
  let from: number | undefined;
  let to: number | undefined;
  try {
    from = parseTimeBound(url.searchParams.get('from') ?? undefined, 'from');
    to = parseTimeBound(url.searchParams.get('to') ?? undefined, 'to');
  } catch (err) {
    return send(res, 400, { error: (err as Error).message });
  }
  const format = url.searchParams.get('format') ?? 'json';
  if (format !== 'csv' && format !== 'json') return send(res, 400, { error: 'format must be csv or json' });
  const text = formatRecords(store.records(station, from, to), format);
  res.writeHead(200, { 'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8' });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
