/**
 * The field side of test/bench/cutoff-path.ts, in its own worker thread: Modbus TCP servers, one
 * per bus, each serving 8 scales (units 1-8: gross ×100 as int32 and a coil-off flag) and a relay
 * module (unit 100, coils 0-7). Its own event loop, so what the gateway's thread does (a record's
 * fsync, another post's step) cannot delay when a frame arrives here: that is the relay module's
 * view. It measures on its own clock:
 * - from the first reply that carried a post's dropped weight (hose break) to that post's coil-OFF
 *   frame, the full path: the reply on the wire, the gateway's read and step, the OFF on the wire;
 * - the OFF frames' times (timeOrigin + now, comparable across threads) for the predicted cut-offs.
 * Messages in: { t: 'post', bus, post, present?, filledKg?, dropKg? }; out: 'ports', 'coil', 'offAt', 'dropLat'.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeRequestPdu, encodeMbap, encodeResponsePdu, mbapFramer, type ModbusResponse } from '../../protocols/modbus/frames.ts';
import { encodeValue } from '../../protocols/modbus/registers.ts';

export const RELAY_UNIT = 100;
export const TARE = 16.5;
export const RESIDUAL = 12; // returned nearly full: each fill takes seconds, so the run sees many cut-offs
const FLOW_KG_PER_S = 30 / 60; // the fast end of 10-30 kg/min (domain.md 4)

export type ToField = { t: 'post'; bus: number; post: number; present?: boolean; filledKg?: number; dropKg?: number };
export type FromField =
  | { t: 'ports'; ports: number[] }
  | { t: 'coil'; bus: number; post: number; on: boolean }
  /** A coil-OFF frame's arrival, on the shared clock (performance.timeOrigin + now). */
  | { t: 'offAt'; bus: number; post: number; at: number }
  /** First reply with the dropped weight → the coil-OFF frame (ms, this thread's clock). */
  | { t: 'dropLat'; ms: number };

/** One cylinder on one scale: its weight is a function of time and the coil. */
class FieldPost {
  coil = false;
  openedAt = 0;
  filledKg = 0;
  present = true;
  dropKg = 0;
  /** When the first reply showing the drop left. */
  dropSentAt: number | undefined;
  gross(now: number): number {
    if (!this.present) return 0;
    const flowing = this.coil ? ((now - this.openedAt) / 1000) * FLOW_KG_PER_S : 0;
    return TARE + RESIDUAL + this.filledKg + flowing - this.dropKg;
  }
  setCoil(on: boolean, now: number): void {
    if (on && !this.coil) this.openedAt = now;
    if (!on && this.coil) this.filledKg += ((now - this.openedAt) / 1000) * FLOW_KG_PER_S;
    this.coil = on;
  }
}

async function fieldServer(bus: number, posts: FieldPost[], send: (m: FromField) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const framer = mbapFramer();
    socket.on('data', (chunk) => {
      for (const ev of framer.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const now = performance.now();
        const { transactionId, unitId, pdu } = ev.frame;
        const req = decodeRequestPdu(pdu);
        let res: ModbusResponse;
        if (unitId === RELAY_UNIT && req.fc === 5 && 'value' in req && typeof req.value === 'boolean') {
          const p = posts[req.address];
          if (p && p.coil !== req.value) {
            if (!req.value) {
              if (p.dropSentAt !== undefined) send({ t: 'dropLat', ms: now - p.dropSentAt });
              else send({ t: 'offAt', bus, post: req.address, at: performance.timeOrigin + now });
            }
            p.setCoil(req.value, now);
            send({ t: 'coil', bus, post: req.address, on: req.value });
          }
          res = { fc: 5, address: req.address, value: req.value };
        } else if (unitId >= 1 && unitId <= posts.length && req.fc === 3 && 'count' in req) {
          const p = posts[unitId - 1]!;
          const regs = [...encodeValue(Math.round(p.gross(now) * 100), { type: 'int32', wordOrder: 'big' }), p.coil ? 0 : 1];
          res = { fc: 3, registers: regs.slice(req.address, req.address + req.count) };
          if (p.dropKg > 0 && p.coil && p.dropSentAt === undefined) p.dropSentAt = performance.now();
        } else res = { fc: req.fc, exception: 2 };
        socket.write(encodeMbap(transactionId, unitId, encodeResponsePdu(res)));
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

if (parentPort && workerData?.cutoffField) {
  const port = parentPort;
  const { buses, perBus } = workerData.cutoffField as { buses: number; perBus: number };
  const field = Array.from({ length: buses }, () => Array.from({ length: perBus }, () => new FieldPost()));
  const send = (m: FromField) => port.postMessage(m);
  const servers = await Promise.all(field.map((posts, b) => fieldServer(b, posts, send)));
  // Stopped by the bench with worker.terminate(), which closes the servers with the thread.
  port.on('message', (m: ToField) => {
    const p = field[m.bus]![m.post]!;
    if (m.present !== undefined) p.present = m.present;
    if (m.filledKg !== undefined) p.filledKg = m.filledKg;
    if (m.dropKg !== undefined) {
      p.dropKg = m.dropKg;
      p.dropSentAt = undefined;
    }
  });
  send({ t: 'ports', ports: servers.map((s) => (s.address() as AddressInfo).port) });
}
