/**
 * A TCP server on 127.0.0.1 serving one simulated device or bus. Port 0 picks
 * a free port; after a link-drop fault the server listens again on the same port.
 */
import net from 'node:net';
import { FillgateError } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import type { Conn, Endpoint } from './endpoint.ts';

interface TcpConn extends Conn {
  socket: net.Socket;
}

export class TcpEndpoint implements Endpoint {
  readonly kind = 'tcp';
  readonly data = new Signal<{ conn: Conn; bytes: Buffer }>();
  readonly peers = new Signal<{ conn: Conn; open: boolean }>();
  bytesLost = 0;
  private server: net.Server | undefined;
  private readonly conns = new Set<TcpConn>();
  private nextId = 1;
  private port = 0;
  private dropTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private downNow = false;

  private constructor(
    private readonly host: string,
    /** URL scheme the gateway uses for this server: 'tcp', 'modbus-tcp' or 'modbus-rtu-tcp'. */
    private readonly scheme: string,
  ) {}

  static async listen(port: number, scheme = 'tcp', host = '127.0.0.1'): Promise<TcpEndpoint> {
    const ep = new TcpEndpoint(host, scheme);
    await ep.start(port);
    return ep;
  }

  get url(): string {
    return `${this.scheme}://${this.host}:${this.port}`;
  }

  get listeningPort(): number {
    return this.port;
  }

  get down(): boolean {
    return this.downNow;
  }

  wireTimeMs(): number {
    return 0;
  }

  send(conn: Conn, bytes: Buffer): void {
    const c = conn as TcpConn;
    if (this.downNow || !this.conns.has(c) || c.socket.destroyed) {
      this.bytesLost += bytes.length;
      return;
    }
    c.socket.write(bytes);
  }

  broadcast(bytes: Buffer): void {
    if (this.downNow) {
      this.bytesLost += bytes.length;
      return;
    }
    for (const c of this.conns) {
      // A client that stopped reading must not make the simulator buffer without bound.
      if (c.socket.writableLength > 64 * 1024) this.bytesLost += bytes.length;
      else c.socket.write(bytes);
    }
  }

  peerCount(): number {
    return this.conns.size;
  }

  drop(ms: number): void {
    if (this.closed) return;
    this.downNow = true;
    clearTimeout(this.dropTimer);
    this.stopServer();
    this.dropTimer = setTimeout(() => {
      this.dropTimer = undefined;
      if (this.closed) return;
      this.start(this.port)
        .then(() => (this.downNow = false))
        .catch(() => this.drop(100)); // port briefly unavailable: try again shortly
    }, ms);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.dropTimer);
    await this.stopServer();
  }

  private start(port: number): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      server.once('error', (err) =>
        reject(new FillgateError('LINK_OPEN_FAILED', `cannot listen on ${this.host}:${port}: ${err.message}`, { port }, { cause: err })),
      );
      server.listen({ port, host: this.host, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', () => undefined);
        this.server = server;
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.downNow || this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: TcpConn = { id: this.nextId++, socket };
    this.conns.add(conn);
    socket.on('data', (bytes: Buffer) => this.data.emit({ conn, bytes }));
    socket.on('error', () => undefined); // a reset by the peer is normal; 'close' follows
    socket.on('close', () => {
      if (this.conns.delete(conn)) this.peers.emit({ conn, open: false });
    });
    this.peers.emit({ conn, open: true });
  }

  private stopServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.socket.destroy();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
