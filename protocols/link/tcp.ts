/**
 * A raw TCP byte stream, e.g. to an RS-485 device server (Moxa NPort, USR
 * IOT) in "TCP server" mode. Reopened after a reset or a device server reboot.
 */
import net from 'node:net';
import { FillgateError } from '../errors.ts';
import { type Connection, type ConnectionEvents, ReconnectingLink, type ReconnectOptions } from './reconnecting.ts';
import type { TcpAddress } from './url.ts';

export interface TcpLinkOptions extends ReconnectOptions {
  /** Give up one connect attempt after this long (ms); default 3000. */
  connectTimeoutMs?: number;
  /**
   * TCP keep-alive probe delay (ms); default 5000. A device server that lost
   * power sends no FIN: only keep-alive (or a request timeout) notices.
   */
  keepAliveMs?: number;
}

export class TcpLink extends ReconnectingLink {
  constructor(
    url: string,
    readonly address: TcpAddress,
    private readonly opts: TcpLinkOptions = {},
  ) {
    super(url, opts);
  }

  protected openStream(events: ConnectionEvents): Promise<Connection> {
    const { host, port } = this.address;
    const timeoutMs = this.opts.connectTimeoutMs ?? 3000;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FillgateError('LINK_OPEN_FAILED', `connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        socket.setKeepAlive(true, this.opts.keepAliveMs ?? 5000);
        let lastError = '';
        socket.on('data', (b: Buffer) => events.data(b));
        socket.on('error', (err) => (lastError = err.message));
        socket.on('close', () => events.dropped(lastError || 'connection closed by peer'));
        resolve(tcpConnection(socket));
      });
    });
  }
}

function tcpConnection(socket: net.Socket): Connection {
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed || !socket.writable) {
          reject(new Error('socket is not writable'));
          return;
        }
        socket.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    destroy: () =>
      new Promise<void>((resolve) => {
        socket.removeAllListeners('close');
        socket.removeAllListeners('data');
        socket.on('error', () => undefined);
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  };
}
