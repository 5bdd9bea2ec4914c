/**
 * One physical Modbus connection (a TCP socket or a serial port) driven by the
 * modbus-serial client, kept open with backoff like every link, and one
 * request/response exchange at a time (several on Modbus TCP when the bus
 * allows them: modbus-serial matches replies by MBAP transaction id). The
 * arbiter in bus.ts decides what is sent and when; this file only knows
 * modbus-serial.
 *
 * modbus-serial 8.0.25 transports by URL scheme:
 *   modbus-tcp      connectTCP         MBAP header, transaction ids
 *   modbus-rtu      connectRTUBuffered RTU frames on a serial port
 *   modbus-rtu-tcp  connectTelnet      raw RTU frames (with CRC) over TCP. Not
 *                   connectTcpRTUBuffered: despite its name that one sends MBAP headers.
 */
import net from 'node:net';
import modbus from 'modbus-serial';
import { watchDeviceNode } from '../link/device-node.ts';
import { FillgateError, errorMessage, isFillgateError } from '../errors.ts';
import { type Closeable, type FrameTap, Reconnector, type ReconnectOptions, type Session } from '../link/reconnecting.ts';
import type { ModbusAddress } from '../link/url.ts';

const ModbusRTU = modbus.default;
export type ModbusClient = InstanceType<typeof ModbusRTU>;

export interface ModbusConnectionOptions extends ReconnectOptions {
  /** Give up one connect attempt after this long (ms); default 3000. */
  connectTimeoutMs?: number;
}

interface ClientHandle extends Closeable {
  client: ModbusClient;
  /**
   * By MBAP transaction id (0 for RTU, one request at a time): asked as the request's bytes reach the OS (the raw socket or port write); false drops them
   * unsent and calls `onVeto`. modbus-serial's TcpPort writes a microtask (or a drain) after it is
   * called, so a question asked when the request was started can be answered differently by then:
   * a valve's close decided in between must keep its ON off the wire (protocols/modbus/README.md).
   */
  gates: Map<number, { stillWanted: () => boolean; onVeto: () => void }>;
  /**
   * Calls `fn` once, with LINK_CLOSED, when this connection drops, so a request
   * in flight ends at once; returns the function that removes it. An exchange
   * watches only while it runs: anything attached for longer (a race against a
   * promise that never settles while the link is up) would keep every reply
   * alive for the life of the connection.
   */
  onDrop(fn: (err: FillgateError) => void): () => void;
  /** Drop watchers registered now (0 between exchanges; for tests). */
  watchers(): number;
}

/** Internals of modbus-serial ports we touch (8.0.25): the OS object and the RTU receive buffer. */
interface PortInternals {
  _client?: net.Socket | { isOpen?: boolean; close?: (cb: () => void) => void; on?: unknown };
  _buffer?: Buffer;
}

export class ModbusConnection extends Reconnector<ClientHandle> {
  constructor(
    url: string,
    readonly address: ModbusAddress,
    private readonly opts: ModbusConnectionOptions = {},
  ) {
    super(url, opts);
  }

  protected async connect(session: Session): Promise<ClientHandle> {
    const client = new ModbusRTU();
    // Without an 'error' listener a serial port error would crash the process.
    client.on('error', (err: unknown) => session.dropped(errorMessage(err)));
    client.on('close', () => session.dropped('connection closed'));
    const timeoutMs = this.opts.connectTimeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.connectClient(client), timedOut]);
    } catch (err) {
      void destroyClient(client);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return this.handleFor(client, session);
  }

  private connectClient(client: ModbusClient): Promise<void> {
    const { scheme, link } = this.address;
    if (link.kind === 'serial') {
      const { path, baudRate, parity, dataBits, stopBits } = link;
      return client.connectRTUBuffered(path, { baudRate, parity, dataBits, stopBits });
    }
    return scheme === 'modbus-tcp'
      ? client.connectTCP(link.host, { port: link.port })
      : client.connectTelnet(link.host, { port: link.port });
  }

  private handleFor(client: ModbusClient, session: Session): ClientHandle {
    const watchers = new Set<(err: FillgateError) => void>();
    let droppedWith: FillgateError | undefined;
    const rejectDropped = (err: FillgateError) => {
      if (droppedWith) return;
      droppedWith = err;
      for (const fn of [...watchers]) fn(err);
      watchers.clear();
    };
    // TcpPort does not relay a socket reset as 'close'; watch the OS object itself.
    const raw = portOf(client)?._client as { on?: (ev: string, fn: () => void) => void } | undefined;
    if (raw instanceof net.Socket) {
      raw.setKeepAlive(true, 5000);
      // No Nagle: with several requests in flight (maxInFlight) a small request written while an
      // earlier one is unacknowledged would otherwise wait for that ACK (RFC 896, delayed ACK).
      raw.setNoDelay(true);
    }
    const handle: Partial<ClientHandle> = { gates: new Map() };
    gateRaw(raw, handle.gates!, this.address.framing === 'mbap', this.tap);
    raw?.on?.('close', () => {
      rejectDropped(new FillgateError('LINK_CLOSED', `${this.url} dropped during the request`, { url: this.url }));
      session.dropped('connection closed');
    });
    client.on('close', () => rejectDropped(new FillgateError('LINK_CLOSED', `${this.url} dropped during the request`)));
    // An unplug serialport does not report (see device-node.ts) still ends the connection.
    const link = this.address.link;
    const stopWatch =
      link.kind === 'serial'
        ? watchDeviceNode(link.path, (reason) => {
            rejectDropped(new FillgateError('LINK_CLOSED', reason, { url: this.url }));
            session.dropped(reason);
          })
        : () => undefined;
    return Object.assign(handle, {
      client,
      onDrop: (fn: (err: FillgateError) => void) => {
        if (droppedWith) {
          fn(droppedWith);
          return () => undefined;
        }
        watchers.add(fn);
        return () => watchers.delete(fn);
      },
      watchers: () => watchers.size,
      destroy: () => {
        stopWatch();
        return destroyClient(client);
      },
    }) as ClientHandle;
  }

  /**
   * Drops the current connection and reconnects with backoff. For a TCP bus
   * whose units all went silent: a device server that lost power sends no
   * FIN, so the socket would look open for minutes.
   */
  reconnect(reason: string): void {
    this.drop(reason);
  }

  /**
   * One request/response. `op` issues the request through the client; the
   * promise rejects with a classified FillgateError (TIMEOUT, MODBUS_EXCEPTION,
   * BAD_FRAME, LINK_CLOSED).
   */
  async exchange<T>(unitId: number, timeoutMs: number, op: (client: ModbusClient) => Promise<T>, stillWanted?: () => boolean): Promise<T> {
    const handle = this.connection;
    if (!handle) throw new FillgateError('LINK_CLOSED', `${this.url} is ${this.state}`, { url: this.url, state: this.state });
    if (!handle.client.isOpen) {
      this.drop('port is not open');
      throw new FillgateError('LINK_CLOSED', `${this.url} is not open`, { url: this.url });
    }
    // setID, setTimeout and the op's write run in one synchronous run: with several exchanges in
    // flight (Modbus TCP), each request takes its unit id, timeout and transaction id here.
    handle.client.setID(unitId);
    handle.client.setTimeout(timeoutMs);
    const tid = this.address.framing === 'mbap' ? (portOf(handle.client) as { _transactionIdWrite?: number } | undefined)?._transactionIdWrite ?? 0 : 0;
    let guard: NodeJS.Timeout | undefined;
    let unwatch: () => void = () => undefined;
    // Ends the exchange early: the link dropped, or modbus-serial never settled
    // the request (it has its own timer; this guard is the backstop). Both are
    // removed when the exchange ends, so nothing outlives it.
    const aborted = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(timeoutError(this.url, unitId, timeoutMs)), timeoutMs + 250);
      unwatch = handle.onDrop(reject);
      if (stillWanted) {
        handle.gates.set(tid, {
          stillWanted,
          onVeto: () => reject(new FillgateError('SUPERSEDED', `unit ${unitId} on ${this.url}: no longer wanted as it went out, not sent`, { url: this.url, unitId })),
        });
      }
    });
    try {
      return await Promise.race([op(handle.client), aborted]);
    } catch (err) {
      throw classifyModbusError(err, { url: this.url, unitId, timeoutMs });
    } finally {
      clearTimeout(guard);
      unwatch();
      if (stillWanted) handle.gates.delete(tid);
    }
  }

  /** Drop watchers registered on the current connection: 0 whenever no exchange runs. */
  get dropWatchers(): number {
    return this.connection?.watchers() ?? 0;
  }

  /**
   * RTU only: bytes left in the receive buffer belong to no request (a reply
   * that came after its timeout, line noise). They are cleared before each
   * request so they cannot be mistaken for the next reply; returns how many.
   */
  takeStaleBytes(): number {
    const port = portOf(this.connection?.client);
    const buf = port?._buffer;
    if (this.address.framing !== 'rtu' || !port || !Buffer.isBuffer(buf) || buf.length === 0) return 0;
    port._buffer = Buffer.alloc(0);
    return buf.length;
  }
}

/**
 * Frame logs see the bytes on the wire itself (socket or serial port), not
 * modbus-serial's internal form (which adds a fake CRC to Modbus TCP frames).
 * Only done when a tap is configured; one wrapper per connection object.
 */
function gateRaw(raw: unknown, gates: ClientHandle['gates'], mbap: boolean, tap: FrameTap | undefined): void {
  const os = raw as { on?: (ev: string, fn: (b: Buffer) => void) => void; write?: (...args: unknown[]) => boolean } | undefined;
  if (!os?.on || typeof os.write !== 'function') return;
  if (tap) os.on('data', (b: Buffer) => tap('rx', b));
  const write = os.write.bind(os);
  os.write = (...args: unknown[]) => {
    // Which request these bytes are: its MBAP transaction id (bytes 0-1), or the one RTU request.
    const tid = mbap && Buffer.isBuffer(args[0]) && args[0].length >= 2 ? args[0].readUInt16BE(0) : 0;
    const gate = gates.size > 0 ? gates.get(tid) : undefined;
    if (gate && !gate.stillWanted()) {
      // Dropped unsent; "written" for modbus-serial, whose request the exchange ends with SUPERSEDED.
      gate.onVeto();
      return true;
    }
    if (tap && Buffer.isBuffer(args[0])) tap('tx', args[0]);
    return write(...args);
  };
}

function portOf(client: ModbusClient | undefined): PortInternals | undefined {
  return (client as unknown as { _port?: PortInternals } | undefined)?._port;
}

async function destroyClient(client: ModbusClient): Promise<void> {
  // ModbusRTU is an EventEmitter; its typings only declare on().
  (client as unknown as NodeJS.EventEmitter).removeAllListeners();
  client.on('error', () => undefined);
  const raw = portOf(client)?._client;
  if (raw instanceof net.Socket) {
    raw.on('error', () => undefined);
    raw.destroy();
    return;
  }
  // A serial port: ModbusRTU.destroy() would leave it open (RTUBufferedPort has no destroy()).
  const serial = raw as { isOpen?: boolean; close?: (cb: () => void) => void } | undefined;
  if (serial?.isOpen && serial.close) await new Promise<void>((resolve) => serial.close!(() => resolve()));
}

function timeoutError(url: string, unitId: number, timeoutMs: number): FillgateError {
  return new FillgateError('TIMEOUT', `unit ${unitId} on ${url} did not answer within ${timeoutMs} ms`, { url, unitId, timeoutMs });
}

/** Turns modbus-serial's errors (plain objects with errno/modbusCode) into FillgateErrors. */
export function classifyModbusError(err: unknown, ctx: { url: string; unitId: number; timeoutMs: number }): FillgateError {
  if (isFillgateError(err)) return err;
  const e = (err ?? {}) as { message?: string; errno?: string; modbusCode?: number };
  const message = e.message ?? String(err);
  if (typeof e.modbusCode === 'number') {
    return new FillgateError('MODBUS_EXCEPTION', `unit ${ctx.unitId} on ${ctx.url}: ${message}`, {
      ...ctx,
      exceptionCode: e.modbusCode,
    });
  }
  if (e.errno === 'ETIMEDOUT' || message === 'Timed out') return timeoutError(ctx.url, ctx.unitId, ctx.timeoutMs);
  if (message === 'Port Not Open') return new FillgateError('LINK_CLOSED', `${ctx.url} is not open`, ctx);
  if (/CRC error|Data length error|Unexpected data/.test(message)) {
    return new FillgateError('BAD_FRAME', `unit ${ctx.unitId} on ${ctx.url}: ${message}`, ctx);
  }
  return new FillgateError('INTERNAL', `unit ${ctx.unitId} on ${ctx.url}: ${message}`, ctx, { cause: err });
}
