/**
 * The naive controller of issue 14 point 1, as its own process: what a
 * station gets from a few Node-RED-style flows. One Modbus TCP connection
 * shared by every scale and the relay module, one request at a time, 10 Hz:
 * each scale's gross (FT-112 holding 4, int32) and all relay inputs in one
 * FC02 read. A start press with a cylinder on the scale opens the coil; the
 * first sample at gross ≥ tare + target closes it. No preact, no top-up, no
 * interlocks beyond a stale-weight close (1 s without a sample).
 *
 *   node --import tsx test/bench/outside-in-naive.ts --bus 127.0.0.1:PORT --relay 200 --posts 32 --target-gross 5.3 --decimals 2
 * Prints `{"url":"http://127.0.0.1:PORT"}` once its status endpoint listens:
 * GET /status → { posts: [{ id, phase: idle|filling|done, grossKg }], eventLoop }.
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { decodeResponsePdu, encodeMbap, encodeRequestPdu, mbapFramer, type ModbusRequest, type ModbusResponse } from '../../protocols/modbus/frames.ts';
import { LoopLag } from '../../gateway/runtime/loop-lag.ts';

const { values } = parseArgs({ options: { bus: { type: 'string' }, relay: { type: 'string' }, posts: { type: 'string' }, 'target-gross': { type: 'string' }, decimals: { type: 'string', default: '2' } } });
const [host, port] = values.bus!.split(':');
const relay = Number(values.relay);
const n = Number(values.posts);
const targetGross = Number(values['target-gross']);
const scaleDiv = 10 ** Number(values.decimals);

interface Job {
  unit: number;
  req: ModbusRequest;
  done: (r: ModbusResponse | undefined) => void;
}
const queue: Job[] = [];
let inFlight: (Job & { tid: number; timer: NodeJS.Timeout }) | undefined;
let tid = 0;
const framer = mbapFramer();
const sock = net.connect({ host, port: Number(port) });
sock.setNoDelay(true);
sock.on('data', (chunk) => {
  for (const ev of framer.push(chunk)) {
    if (ev.kind !== 'frame' || !inFlight || ev.frame.transactionId !== inFlight.tid) continue;
    const job = inFlight;
    clearTimeout(job.timer);
    inFlight = undefined;
    let res: ModbusResponse | undefined;
    try {
      res = decodeResponsePdu(ev.frame.pdu, 'count' in job.req ? job.req.count : undefined);
    } catch {
      res = undefined;
    }
    job.done(res);
    next();
  }
});
sock.on('error', (err) => {
  console.error(`naive: bus ${err.message}`);
  process.exit(1);
});

function next(): void {
  if (inFlight) return;
  const job = queue.shift();
  if (!job) return;
  tid = (tid + 1) & 0xffff;
  const timer = setTimeout(() => {
    inFlight = undefined;
    job.done(undefined);
    next();
  }, 300);
  inFlight = { ...job, tid, timer };
  sock.write(encodeMbap(tid, job.unit, encodeRequestPdu(job.req)));
}

function send(unit: number, req: ModbusRequest, first = false): Promise<ModbusResponse | undefined> {
  return new Promise((done) => {
    if (first) queue.unshift({ unit, req, done });
    else queue.push({ unit, req, done });
    next();
  });
}

type Phase = 'idle' | 'filling' | 'done';
const posts = Array.from({ length: n }, (_, i) => ({ id: `P${i + 1}`, phase: 'idle' as Phase, gross: NaN, at: 0, reading: false, start: false }));

function coil(i: number, on: boolean): void {
  // Writes go ahead of the polls: even a naive integrator does not queue a close behind 32 reads.
  void send(relay, { fc: 5, address: i, value: on }, true);
}

function onSample(i: number, gross: number): void {
  const p = posts[i]!;
  p.gross = gross;
  p.at = performance.now();
  if (p.phase === 'filling' && gross >= targetGross) {
    coil(i, false);
    p.phase = 'done';
  }
  if (p.phase === 'done' && gross < 1) p.phase = 'idle';
}

setInterval(() => {
  const now = performance.now();
  posts.forEach((p, i) => {
    if (p.phase === 'filling' && now - p.at > 1000) {
      coil(i, false); // no fresh weight for a second: close
      p.phase = 'done';
    }
    if (p.reading) return; // the last poll has not come back yet
    p.reading = true;
    void send(i + 1, { fc: 3, address: 4, count: 2 }).then((r) => {
      p.reading = false;
      if (r && 'registers' in r && r.registers.length === 2) onSample(i, ((r.registers[0]! << 16) | r.registers[1]!) / scaleDiv);
    });
  });
  void send(relay, { fc: 2, address: 0, count: 2 * n }).then((r) => {
    if (!r || !('bits' in r)) return;
    posts.forEach((p, i) => {
      const pressed = r.bits[n + i] === true;
      if (pressed && !p.start && p.phase === 'idle' && p.gross > 1 && p.gross < targetGross) {
        coil(i, true);
        p.phase = 'filling';
        p.at = performance.now();
      }
      p.start = pressed;
    });
  });
}, 100);

const lag = new LoopLag();
lag.start();
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ posts: posts.map((p) => ({ id: p.id, phase: p.phase, grossKg: p.gross })), eventLoop: lag.snapshot() }));
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` })));
// Closed valves on the way out, as any controller should.
process.on('SIGTERM', () => {
  posts.forEach((_, i) => coil(i, false));
  setTimeout(() => process.exit(0), 300);
});
