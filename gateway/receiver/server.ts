/**
 * `fillgate receiver`: the HTTP endpoint regulators (and our tests) run. Any number of
 * these nodes may serve one PostgreSQL (`--db postgres://…`); they keep no state of their own.
 *   POST /v1/records                         NDJSON (one v1 record per line, application/x-ndjson)
 *                                            or JSON {records:[v1…]} → {results:[{id,seq,status,reason?,message?}]}
 *   POST /v1/events, GET /v1/stations/:code/events   the station event chain (events.ts)
 *   GET  /v1/stations                        per-station report (gaps, late uploads, last record time)
 *   GET  /v1/stations/:code                  one station's report
 *   GET  /v1/stations/:code/records?from=&to=&format=csv|json   export for a period
 *   POST /v1/stations/:code/keys/handover    key rotation: a handover record signed by the current key (keys.ts)
 *   GET  /v1/stations/:code/keys             the station's keys (current first), revocation dates
 *   POST /v1/admin/stations                  {code, publicKey}: register or re-key (Authorization: Bearer <admin token>)
 *   POST /v1/admin/stations/:code/revoke     {after: ISO, fp?}: revoke a key from a date (admin token)
 *   GET  /healthz                            the process answers (liveness)
 *   GET  /readyz                             the database answers and the node is not draining (readiness: 503 otherwise)
 *   GET  /metrics                            Prometheus, this node
 *   /login, /v1/reports/…, /reports/…        the inspector's reports (report-http.ts), behind the receiver's own login,
 *                                            on either store (store.reportSource())
 * The reply to POST is sent only after the accepted records are committed: an
 * acknowledgement is a promise that they are kept. A database that is away gives 503, which
 * the station's uploader retries.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { formatRecords, parseTimeBound } from '../records/export.ts';
import { ReceiverEvents } from './events.ts';
import type { KeyHandover } from './keys.ts';
import { ReceiverMetrics } from './metrics.ts';
import { ReportHttp, type ReportHttpOptions } from './report-http.ts';
import type { ReportSource } from './reports.ts';
import { openReceiverStore, type ReceiverStore, type ReceiverStoreOptions, type RecordResult } from './store.ts';

export interface ReceiverOptions extends Partial<Omit<ReceiverStoreOptions, 'dbPath'>> {
  port?: number;
  host?: string;
  /** A SQLite file (or :memory:) or a postgres:// URL. */
  dbPath: string;
  stations?: Record<string, string>;
  /** Largest accepted request body (bytes). */
  maxBodyBytes?: number;
  /** Serve HTTPS with this key and certificate (PEM); otherwise plain HTTP (behind a TLS-terminating balancer). */
  tls?: { key: string; cert: string };
  /** Bearer token of the admin API (station registration, revocation); without one the admin API is off. */
  adminToken?: string;
  /** The node's name in /metrics and /readyz. */
  nodeName?: string;
  /** Who may log in to the inspector's reports, with roles; sessions, page language, refill interval. */
  reports?: Omit<ReportHttpOptions, 'settings'> & { refillIntervalMs?: number };
}

export interface RunningReceiver {
  url: string;
  port: number;
  store: ReceiverStore;
  /** The station event chains (events.ts). */
  events: ReceiverEvents;
  metrics: ReceiverMetrics;
  /** What the inspector's reports read (reports.ts). */
  reports: ReportSource;
  /** Answer /readyz 503 from now on, so the balancer stops sending (before a planned stop). */
  drain(): void;
  close(): Promise<void>;
}

type Ctx = { store: ReceiverStore; events: ReceiverEvents; metrics: ReceiverMetrics; maxBody: number; adminToken?: string; draining: boolean; node: string };

export async function startReceiver(opts: ReceiverOptions): Promise<RunningReceiver> {
  const store = await openReceiverStore({ ...opts, verifyThreads: opts.verifyThreads ?? 2 });
  const node = opts.nodeName ?? `node-${process.pid}`;
  const ctx: Ctx = { store, events: new ReceiverEvents(store), metrics: new ReceiverMetrics(store, node), maxBody: opts.maxBodyBytes ?? 32 * 1024 * 1024, adminToken: opts.adminToken, draining: false, node };
  const reports = store.reportSource();
  const { refillIntervalMs, ...reportOpts } = opts.reports ?? {};
  const overview = () => store.stationReports();
  const reportHttp = new ReportHttp(reports, overview, { ...reportOpts, settings: refillIntervalMs === undefined ? undefined : { refillIntervalMs } });
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const report = reportHttp.handle(req, res);
    if (report) return void report.catch((err: Error) => send(res, dbAway(err) ? 503 : 500, { error: `${dbAway(err) ? 'database unavailable, retry' : 'internal error'}: ${err.message}` }));
    route(ctx, req, res).catch((err: Error) => send(res, dbAway(err) ? 503 : 500, { error: `${dbAway(err) ? 'database unavailable, retry' : 'internal error'}: ${err.message}` }));
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
    events: ctx.events,
    metrics: ctx.metrics,
    reports,
    drain: () => void (ctx.draining = true),
    close: async () => {
      ctx.draining = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await store.close();
    },
  };
}

/** Errors that mean "the database is not there right now" (restart, failover, network): retryable. */
function dbAway(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return /^(57P0[1-3]|08\d{3}|53300|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT)$/.test(e?.code ?? '') || /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e?.message ?? '');
}

async function route(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (req.method === 'POST') {
    if (url.pathname === '/v1/records') return postBatch(ctx, 'records', req, res);
    if (url.pathname === '/v1/events') return postBatch(ctx, 'events', req, res);
    if (parts[0] === 'v1' && parts[1] === 'stations' && parts[3] === 'keys' && parts[4] === 'handover' && parts.length === 5) return postHandover(ctx, parts[2], req, res);
    if (parts[0] === 'v1' && parts[1] === 'admin') return admin(ctx, parts.slice(2), req, res);
    return send(res, 404, { error: `no route POST ${url.pathname}` });
  }
  if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/healthz') return send(res, 200, { ok: true, node: ctx.node });
  if (url.pathname === '/readyz') return ready(ctx, res);
  if (url.pathname === '/metrics') {
    res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
    return void res.end(await ctx.metrics.registry.metrics());
  }
  if (parts[0] === 'v1' && parts[1] === 'stations') {
    const { store } = ctx;
    if (parts.length === 2) return send(res, 200, { stations: await store.stationReports() });
    if (parts.length === 3) return send(res, 200, await store.report(parts[2]));
    if (parts.length === 4 && parts[3] === 'records') return exportStation(store, parts[2], url, res);
    if (parts.length === 4 && parts[3] === 'events') return stationEvents(ctx, parts[2], url, res);
    if (parts.length === 4 && parts[3] === 'keys') return send(res, 200, { keys: await store.stationKeys(parts[2]) });
  }
  send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
}

async function ready(ctx: Ctx, res: ServerResponse): Promise<void> {
  if (ctx.draining) return send(res, 503, { ready: false, node: ctx.node, reason: 'draining' });
  try {
    await Promise.race([ctx.store.check(), new Promise((_, reject) => setTimeout(() => reject(new Error('database did not answer within 2 s')), 2000).unref())]);
    send(res, 200, { ready: true, node: ctx.node, store: ctx.store.kind });
  } catch (err) {
    send(res, 503, { ready: false, node: ctx.node, reason: `database: ${(err as Error).message}` });
  }
}

async function readBody(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > ctx.maxBody) return void send(res, 413, { error: `body larger than ${ctx.maxBody} bytes: send smaller batches` });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function postBatch(ctx: Ctx, chain: 'records' | 'events', req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t0 = performance.now();
  const text = await readBody(ctx, req, res);
  if (text === undefined) return;
  let lines: string[];
  if (/ndjson/i.test(req.headers['content-type'] ?? '')) {
    // Each line is kept as sent: the stored record is byte for byte what the station signed and sent.
    lines = text.split('\n').filter((l) => l.trim().length > 0);
  } else {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(res, 400, { error: 'body is not JSON' });
    }
    if (!body || !Array.isArray(body[chain])) return send(res, 400, { error: `body must be {"${chain}": [...]} or NDJSON` });
    lines = (body[chain] as unknown[]).map((r) => JSON.stringify(r) ?? 'null');
  }
  ctx.metrics.inflight.inc();
  let results: RecordResult[];
  try {
    results = chain === 'records' ? await ctx.store.ingestLines(lines) : await ctx.store.ingestEvents(lines);
  } catch (err) {
    ctx.metrics.failed(chain);
    throw err;
  } finally {
    ctx.metrics.inflight.dec();
  }
  ctx.metrics.observe(chain, (performance.now() - t0) / 1000, results);
  send(res, 200, { results });
}

async function postHandover(ctx: Ctx, station: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await readBody(ctx, req, res);
  if (text === undefined) return;
  let h: KeyHandover;
  try {
    h = JSON.parse(text) as KeyHandover;
  } catch {
    return send(res, 400, { error: 'body is not JSON' });
  }
  if (h?.station !== station) return send(res, 400, { error: `the handover names station ${String(h?.station)}, not ${station}` });
  try {
    const k = await ctx.store.handover(h);
    send(res, 200, { ok: true, key: { fp: k.fp, via: k.via } });
  } catch (err) {
    if (dbAway(err)) throw err;
    send(res, 422, { error: (err as Error).message });
  }
}

function authorised(ctx: Ctx, req: IncomingMessage): boolean {
  if (!ctx.adminToken) return false;
  const got = Buffer.from(String(req.headers.authorization ?? ''));
  const want = Buffer.from(`Bearer ${ctx.adminToken}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

async function admin(ctx: Ctx, parts: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.adminToken) return send(res, 404, { error: 'the admin API is off (start the receiver with --admin-token-file)' });
  if (!authorised(ctx, req)) return send(res, 401, { error: 'admin token required (Authorization: Bearer …)' });
  const text = await readBody(ctx, req, res);
  if (text === undefined) return;
  let body: { code?: string; publicKey?: string; after?: string; fp?: string };
  try {
    body = JSON.parse(text || '{}') as typeof body;
  } catch {
    return send(res, 400, { error: 'body is not JSON' });
  }
  try {
    if (parts.length === 1 && parts[0] === 'stations') {
      if (!body.code || !body.publicKey) return send(res, 400, { error: 'code and publicKey are required' });
      await ctx.store.registerStation(body.code, body.publicKey, 'register');
      return send(res, 200, { ok: true, keys: await ctx.store.stationKeys(body.code) });
    }
    if (parts.length === 3 && parts[0] === 'stations' && parts[2] === 'revoke') {
      const after = Date.parse(body.after ?? '');
      if (!Number.isFinite(after)) return send(res, 400, { error: 'after (ISO 8601) is required' });
      return send(res, 200, { ok: true, key: await ctx.store.revokeKey(parts[1], after, body.fp) });
    }
  } catch (err) {
    if (dbAway(err)) throw err;
    return send(res, 422, { error: (err as Error).message });
  }
  send(res, 404, { error: `no admin route ${parts.join('/')}` });
}

function timeBounds(url: URL, res: ServerResponse): { from?: number; to?: number } | undefined {
  try {
    return { from: parseTimeBound(url.searchParams.get('from') ?? undefined, 'from'), to: parseTimeBound(url.searchParams.get('to') ?? undefined, 'to') };
  } catch (err) {
    send(res, 400, { error: (err as Error).message });
    return undefined;
  }
}

async function stationEvents(ctx: Ctx, station: string, url: URL, res: ServerResponse): Promise<void> {
  const b = timeBounds(url, res);
  if (!b) return;
  send(res, 200, { report: await ctx.events.report(station), events: await ctx.events.events(station, b.from, b.to, url.searchParams.get('kind') ?? undefined) });
}

async function exportStation(store: ReceiverStore, station: string, url: URL, res: ServerResponse): Promise<void> {
  const b = timeBounds(url, res);
  if (!b) return;
  const format = url.searchParams.get('format') ?? 'json';
  if (format !== 'csv' && format !== 'json') return send(res, 400, { error: 'format must be csv or json' });
  const text = formatRecords(await store.records(station, b.from, b.to), format);
  res.writeHead(200, { 'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8' });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
