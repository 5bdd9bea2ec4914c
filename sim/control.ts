/**
 * The simulator's control interface: JSON over HTTP on 127.0.0.1, and the same
 * verbs as text lines (stdin console, sim/console.ts). Both call the
 * SimulatorCore methods, so a test in-process, a script over HTTP and a person
 * at the terminal drive the station the same way.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isFillgateError, errorMessage } from '../protocols/errors.ts';
import type { Button, } from './post.ts';
import type { FaultKind } from './faults.ts';
import type { SimulatorCore } from './simulator.ts';
import type { WireKind, WireQuery } from './wire/wire-log.ts';

type Body = Record<string, unknown>;
type Handler = (sim: SimulatorCore, params: string[], body: Body, query: URLSearchParams) => unknown;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Method + path pattern → handler. `:id` segments become params. */
const routes: [string, RegExp, Handler][] = [
  ['GET', /^\/state$/, (sim) => sim.state()],
  ['GET', /^\/endpoints$/, (sim) => ({ endpoints: sim.endpoints(), devices: sim.deviceEndpoints() })],
  ['GET', /^\/faults$/, (sim) => ({ faults: sim.faults.list() })],
  ['POST', /^\/posts\/([^/]+)\/place$/, (sim, [id], b) => ({ cylinder: sim.place(id!, str(b.code) ?? '', { tareKg: num(b.tareKg), residualKg: num(b.residualKg) }) })],
  ['POST', /^\/posts\/([^/]+)\/remove$/, (sim, [id]) => ({ cylinder: sim.remove(id!) })],
  ['POST', /^\/posts\/([^/]+)\/scan$/, (sim, [id], b) => ({ delivered: sim.scan(id!, str(b.code)) })],
  ['POST', /^\/posts\/([^/]+)\/badge$/, (sim, [id], b) => ({ delivered: sim.badge(id!, str(b.badge) ?? '') })],
  ['POST', /^\/posts\/([^/]+)\/press$/, (sim, [id], b) => (sim.press(id!, b.button as Button, num(b.holdMs)), {})],
  ['POST', /^\/posts\/([^/]+)\/to-check$/, (sim, [id]) => ({ cylinder: sim.toCheck(id!) })],
  // A manual bypass around the fill valve: {"kgPerMin": 20} opens it, {"kgPerMin": 0} closes it.
  ['POST', /^\/posts\/([^/]+)\/bypass$/, (sim, [id], b) => sim.bypass(id!, num(b.kgPerMin) ?? 0)],
  ['POST', /^\/check\/remove$/, (sim) => ({ cylinder: sim.removeCheck() })],
  ['POST', /^\/check\/scan$/, (sim, _p, b) => ({ delivered: sim.scanCheck(str(b.code)) })],
  ['POST', /^\/check\/badge$/, (sim, _p, b) => ({ delivered: sim.badgeCheck(str(b.badge) ?? '') })],
  ['POST', /^\/faults$/, (sim, _p, b) => ({ fault: sim.setFault(b) })],
  // Gas at a detector's sensor: {"lel": 60} and/or {"fault": true}; a silent detector is the no-answer fault on <id>.detector.
  ['POST', /^\/gas\/([^/]+)$/, (sim, [id], b) => ({ sensor: sim.gas(id!, { lel: num(b.lel), fault: typeof b.fault === 'boolean' ? b.fault : undefined }) })],
  ['POST', /^\/cutoffs\/([^/]+)\/reopen$/, (sim, [id]) => sim.reopenCutoff(id!)],
  // The wire log (sim/wire/wire-log.ts): ?since=SEQ&kind=request,coil&bus=&unit=&fc=&device=&limit=
  ['GET', /^\/wire-log$/, (sim, _p, _b, q) => ({ lastSeq: sim.wire.lastSeq, dropped: sim.wire.dropped, entries: sim.wire.entries(wireQuery(q)) })],
  ['POST', /^\/watchdog$/, (sim, _p, b) => (sim.setWatchdog(b.enabled !== false), { enabled: b.enabled !== false })],
  [
    'DELETE',
    /^\/faults$/,
    (sim, _p, _b, q) => (sim.clearFaults(q.get('device') ?? undefined, (q.get('kind') ?? undefined) as FaultKind | undefined), { faults: sim.faults.list() }),
  ],
];

function wireQuery(q: URLSearchParams): WireQuery {
  const n = (k: string) => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : undefined);
  const kind = q.get('kind');
  return {
    since: n('since'),
    kind: kind ? (kind.split(',') as WireKind[]) : undefined,
    bus: q.get('bus') ?? undefined,
    unitId: n('unit'),
    fc: n('fc'),
    device: q.get('device') ?? undefined,
    limit: n('limit') ?? 10_000,
  };
}

function statusOf(err: unknown): number {
  if (isFillgateError(err)) return Number(err.context.httpStatus ?? 400);
  return 500;
}

async function readBody(req: http.IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw Object.assign(new Error('body is not JSON'), { status: 400 });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw Object.assign(new Error('body must be a JSON object'), { status: 400 });
  return parsed as Body;
}

function send(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function serve(sim: SimulatorCore, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const matching = routes.filter(([, re]) => re.test(url.pathname));
  const route = matching.find(([m]) => m === req.method);
  if (!route) {
    send(res, matching.length ? 405 : 404, { error: matching.length ? `method ${req.method} not allowed` : `no route ${url.pathname}` });
    return;
  }
  try {
    const body = await readBody(req);
    const params = route[1].exec(url.pathname)!.slice(1).map(decodeURIComponent);
    send(res, 200, { ok: true, ...(route[2](sim, params, body, url.searchParams) as object) });
  } catch (err) {
    const status = (err as { status?: number }).status ?? statusOf(err);
    send(res, status, { error: errorMessage(err) });
  }
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export function startControlServer(sim: SimulatorCore, port: number): Promise<ControlServer> {
  const server = http.createServer((req, res) => {
    serve(sim, req, res).catch((err) => send(res, 500, { error: errorMessage(err) }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.removeListener('error', reject);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        url,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
