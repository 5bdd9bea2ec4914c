/**
 * A serial port (RS-232/RS-485 adapter, or one side of a socat pty pair in
 * tests). When the adapter is unplugged the OS closes the port; the link then
 * waits for the device node to come back and reopens it in-process.
 */
import { SerialPort } from 'serialport';
import { type Connection, type ConnectionEvents, ReconnectingLink, type ReconnectOptions } from './reconnecting.ts';
import type { SerialAddress } from './url.ts';
import { watchDeviceNode } from './device-node.ts';

export type SerialLinkOptions = ReconnectOptions;

export class SerialLink extends ReconnectingLink {
  constructor(
    url: string,
    readonly address: SerialAddress,
    opts: SerialLinkOptions = {},
  ) {
    super(url, opts);
  }

  protected openStream(events: ConnectionEvents): Promise<Connection> {
    const a = this.address;
    return new Promise((resolve, reject) => {
      let port: SerialPort;
      try {
        port = new SerialPort({
          path: a.path,
          baudRate: a.baudRate,
          dataBits: a.dataBits,
          stopBits: a.stopBits,
          parity: a.parity,
          autoOpen: false,
        });
      } catch (err) {
        reject(err);
        return;
      }
      port.open((err) => {
        if (err) {
          reject(err);
          return;
        }
        let lastError = '';
        port.on('data', (b: Buffer) => events.data(b));
        // serialport emits 'error' for read failures and then 'close' with
        // err.disconnected when the device node vanished; either ends this connection.
        port.on('error', (e: Error) => {
          lastError = e.message;
          events.dropped(e.message);
        });
        port.on('close', (e?: Error | null) => events.dropped(e?.message || lastError || 'port closed'));
        resolve(serialConnection(port, watchDeviceNode(a.path, (reason) => events.dropped(reason))));
      });
    });
  }
}

function serialConnection(port: SerialPort, stopWatch: () => void): Connection {
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (!port.isOpen) {
          reject(new Error('port is not open'));
          return;
        }
        port.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    destroy: () =>
      new Promise<void>((resolve) => {
        stopWatch();
        port.removeAllListeners('data');
        port.removeAllListeners('close');
        port.removeAllListeners('error');
        port.on('error', () => undefined);
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
}
