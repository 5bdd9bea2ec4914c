/**
 * A TCP proxy between the uploader and the receiver that misbehaves on
 * purpose, one fault per connection from a schedule:
 *   pass        forward both ways, for passLifeMs; then cut (keep-alive would
 *               otherwise carry every later batch past the schedule)
 *   drop        accept, then close at once (FIN)
 *   reset       accept, then reset (RST) after the first request bytes
 *   stall       accept and read, never forward or answer (a half-dead link)
 *   resetReply  forward the request, reset the client when the reply arrives
 *               (the receiver committed; the station never hears it)
 *   lossy       forward both ways, but the link fails after a random number of
 *               bytes (exponential, mean lossy.meanBytes, seeded): then it resets,
 *               stalls (swallows everything, answers nothing) or closes (FIN),
 *               in turn at random. Big requests rarely get through; small ones do
 *               (issue 13: the probe's "link that resets or stalls now and then").
 * The target can move (a restarted receiver on a new port).
 */
import { mulberry32 } from '../../../../sim/physics.ts';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';

export type Fault = 'pass' | 'drop' | 'reset' | 'stall' | 'resetReply' | 'lossy';
export type LinkFault = 'reset' | 'stall' | 'close';

/** The simulator's seeded PRNG (mulberry32), so a lossy run can be repeated. */
export const seeded = mulberry32;

export class ChaosProxy {
  private server: Server;
  private sockets = new Set<Socket>();
  private n = 0;
  readonly counts: Record<Fault, number> = { pass: 0, drop: 0, reset: 0, stall: 0, resetReply: 0, lossy: 0 };
  /** Faults the lossy link injected, by kind. */
  readonly linkFaults: Record<LinkFault, number> = { reset: 0, stall: 0, close: 0 };
  lossy = { meanBytes: 300_000, random: seeded(13) };
  port = 0;

  constructor(public target: { host: string; port: number }, private schedule: Fault[] = ['pass'], private passLifeMs = Infinity) {
    this.server = createServer((client) => this.handle(client));
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  setSchedule(s: Fault[]): void {
    this.schedule = s;
    this.n = 0;
  }

  private track(s: Socket): Socket {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    return s;
  }

  private handle(client: Socket): void {
    this.track(client);
    const fault = this.schedule[this.n++ % this.schedule.length];
    this.counts[fault]++;
    if (fault === 'drop') return void client.end();
    if (fault === 'stall') return void client.resume();
    if (fault === 'reset') return void client.once('data', () => client.resetAndDestroy());
    if (fault === 'lossy') return this.lossyLink(client);
    const upstream = this.track(connect(this.target.port, this.target.host));
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    if (fault === 'resetReply') upstream.once('data', () => client.resetAndDestroy());
    else upstream.pipe(client);
    if (fault === 'pass' && Number.isFinite(this.passLifeMs)) {
      const t = setTimeout(() => client.destroy(), this.passLifeMs);
      client.on('close', () => clearTimeout(t));
    }
  }

  private lossyLink(client: Socket): void {
    const { meanBytes, random } = this.lossy;
    let left = -meanBytes * Math.log(1 - random());
    let failed = false;
    const upstream = this.track(connect(this.target.port, this.target.host));
    upstream.on('close', () => failed || client.destroy());
    client.on('close', () => upstream.destroy());
    const fail = () => {
      failed = true;
      const kinds: LinkFault[] = ['reset', 'stall', 'close'];
      const kind = kinds[Math.floor(random() * kinds.length)];
      this.linkFaults[kind]++;
      upstream.destroy();
      if (kind === 'reset') client.resetAndDestroy();
      else if (kind === 'close') client.end();
      else client.removeAllListeners('data').resume(); // swallow whatever comes, answer nothing
    };
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (failed) return;
      if (chunk.length < left) {
        left -= chunk.length;
        to.write(chunk);
        return;
      }
      to.write(chunk.subarray(0, Math.floor(left)));
      fail();
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
