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
 * The target can move (a restarted receiver on a new port).
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';

export type Fault = 'pass' | 'drop' | 'reset' | 'stall' | 'resetReply';

export class ChaosProxy {
  private server: Server;
  private sockets = new Set<Socket>();
  private n = 0;
  readonly counts: Record<Fault, number> = { pass: 0, drop: 0, reset: 0, stall: 0, resetReply: 0 };
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

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
