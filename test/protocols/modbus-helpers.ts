/**
 * Modbus slaves for the bus tests, built on modbus-serial's own servers (a
 * Modbus implementation we did not write): ServerTCP for Modbus TCP,
 * ServerSerial on a socat pty for RTU, and a TCP-to-serial bridge in front of
 * a pty for RTU over TCP (what an RS-485 device server does).
 *
 * The register bank is instrumented: it counts requests per unit and detects
 * two requests being served at once (the arbiter must never allow that).
 * Units listed in `dead` never answer, like a powered-off device on RS-485.
 */
import net from 'node:net';
import modbus, { type IServiceVector } from 'modbus-serial';
import { SerialPort } from 'serialport';
import { waitFor } from './link-helpers.ts';

type Cb<T> = (err: Error | null, value: T) => void;
type Done = (err: Error | null) => void;

export class FakeUnits {
  holding = new Map<number, number[]>();
  input = new Map<number, number[]>();
  coils = new Map<number, boolean[]>();
  dead = new Set<number>();
  /** Time each request takes to serve (ms). */
  delayMs = 1;
  active = 0;
  maxActive = 0;
  served = new Map<number, number>();
  /** performance.now() when each request reached the slave and when it was answered. */
  timeline: Array<{ unit: number; arrived: number; answered: number }> = [];

  constructor(unitIds: number[]) {
    for (const id of unitIds) {
      this.holding.set(id, Array.from({ length: 100 }, (_, i) => id * 1000 + i));
      this.input.set(id, Array.from({ length: 100 }, (_, i) => id * 100 + i));
      this.coils.set(id, Array.from({ length: 100 }, (_, i) => i % 3 === 0));
    }
  }

  /** Serves one request after delayMs; silent for dead or unknown units; exception 2 past the table. */
  private serve<T>(unit: number, inRange: boolean, answer: () => T, cb: Cb<T>): void {
    if (this.dead.has(unit) || !this.holding.has(unit)) return;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const arrived = performance.now();
    setTimeout(() => {
      this.active--;
      this.timeline.push({ unit, arrived, answered: performance.now() });
      this.served.set(unit, (this.served.get(unit) ?? 0) + 1);
      // modbus-serial's servers answer exception `modbusErrorCode` (2 = illegal data address).
      if (!inRange) cb(Object.assign(new Error('Illegal data address'), { modbusErrorCode: 2 }), undefined as T);
      else cb(null, answer());
    }, this.delayMs);
  }

  /** A modbus-serial service vector (callback form, so timing is ours). */
  vector(): IServiceVector {
    const ok = (addr: number, len = 1) => addr >= 0 && addr + len <= 100;
    return {
      getHoldingRegister: (addr: number, unit: number, cb: Cb<number>) =>
        this.serve(unit, ok(addr), () => this.holding.get(unit)![addr], cb),
      getMultipleHoldingRegisters: (addr: number, len: number, unit: number, cb: Cb<number[]>) =>
        this.serve(unit, ok(addr, len), () => this.holding.get(unit)!.slice(addr, addr + len), cb),
      getInputRegister: (addr: number, unit: number, cb: Cb<number>) =>
        this.serve(unit, ok(addr), () => this.input.get(unit)![addr], cb),
      getMultipleInputRegisters: (addr: number, len: number, unit: number, cb: Cb<number[]>) =>
        this.serve(unit, ok(addr, len), () => this.input.get(unit)!.slice(addr, addr + len), cb),
      getCoil: (addr: number, unit: number, cb: Cb<boolean>) => this.serve(unit, ok(addr), () => this.coils.get(unit)![addr], cb),
      getDiscreteInput: (addr: number, unit: number, cb: Cb<boolean>) =>
        this.serve(unit, ok(addr), () => !this.coils.get(unit)![addr], cb),
      setRegister: (addr: number, value: number, unit: number, cb: Done) =>
        this.serve(unit, ok(addr), () => void (this.holding.get(unit)![addr] = value), (e) => cb(e)),
      setRegisterArray: (addr: number, values: number[], unit: number, cb: Done) =>
        this.serve(unit, ok(addr, values.length), () => void this.holding.get(unit)!.splice(addr, values.length, ...values), (e) => cb(e)),
      setCoil: (addr: number, value: boolean, unit: number, cb: Done) =>
        this.serve(unit, ok(addr), () => void (this.coils.get(unit)![addr] = value), (e) => cb(e)),
    };
  }
}

export interface Closable {
  close(): Promise<void>;
}

/** modbus-serial ServerTCP on a given port (it cannot listen on port 0: 0 means 502 to it). */
export async function startTcpSlave(units: FakeUnits, port: number): Promise<Closable> {
  const server = new modbus.ServerTCP(units.vector(), { host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    server.on('initialized', () => resolve());
    server.on('serverError', (err: unknown) => reject(err));
  });
  server.on('socketError', () => undefined);
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** modbus-serial ServerSerial on one end of a pty pair; `interval: 2` (engineering.md traps). */
export async function startSerialSlave(units: FakeUnits, path: string): Promise<Closable> {
  let server: InstanceType<typeof modbus.ServerSerial> | undefined;
  await new Promise<void>((resolve, reject) => {
    server = new modbus.ServerSerial(units.vector(), {
      path,
      baudRate: 9600,
      interval: 2,
      openCallback: (err?: Error | null) => (err ? reject(err) : resolve()),
    } as ConstructorParameters<typeof modbus.ServerSerial>[1]);
    server.on('socketError', () => undefined);
  });
  return { close: () => new Promise<void>((resolve) => server!.close(() => resolve())) };
}

export interface DeviceServer extends Closable {
  port: number;
  /** Sends bytes to the TCP client as if they came from the line (noise). */
  inject(bytes: Buffer): void;
  /** Flips the last byte of the next chunk from the line (a corrupted reply). */
  corruptNextReply(): void;
}

/** An RS-485 device server: bytes from a TCP client go to a serial port and back, unchanged. */
export async function startDeviceServer(serialPath: string): Promise<DeviceServer> {
  const serial = new SerialPort({ path: serialPath, baudRate: 9600, autoOpen: false });
  serial.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => serial.open((err) => (err ? reject(err) : resolve())));
  const sockets = new Set<net.Socket>();
  let corrupt = false;
  serial.on('data', (b: Buffer) => {
    if (corrupt) {
      corrupt = false;
      b = Buffer.from(b);
      b[b.length - 1] ^= 0xff;
    }
    for (const s of sockets) s.write(b);
  });
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (b) => serial.write(b));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    inject: (bytes) => {
      for (const s of sockets) s.write(bytes);
    },
    corruptNextReply: () => (corrupt = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => (serial.isOpen ? serial.close(() => resolve()) : resolve()));
    },
  };
}

/**
 * Polls each unit in its own loop (like one driver per device) for `ms` and
 * returns completed reads per unit. Failures are counted, never thrown.
 */
export async function pollFor(
  units: Array<{ unitId: number; readHoldingRegisters(a: number, n: number): Promise<number[]> }>,
  ms: number,
): Promise<Map<number, { ok: number; failed: number }>> {
  const out = new Map(units.map((u) => [u.unitId, { ok: 0, failed: 0 }]));
  const end = Date.now() + ms;
  await Promise.all(
    units.map(async (u) => {
      const c = out.get(u.unitId)!;
      while (Date.now() < end) {
        try {
          await u.readHoldingRegisters(0, 4);
          c.ok++;
        } catch {
          c.failed++;
          // A set-aside unit rejects at once: do not spin.
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }),
  );
  return out;
}

export { waitFor };
