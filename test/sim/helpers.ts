/**
 * Shared pieces for the simulator tests: a small station, raw TCP clients that
 * collect bytes, a modbus-serial master (a Modbus implementation we did not
 * write), and an "eventually" wait that polls instead of sleeping blindly.
 */
import net from 'node:net';
import modbus from 'modbus-serial';
import type { StationInput } from '../../sim/station.ts';

const ModbusRTU = modbus.default;
export type ModbusClient = InstanceType<typeof ModbusRTU>;

/** Polls until `check` returns a truthy value (or throws its last error after timeoutMs). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 8000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A station for tests: no noise, so the wire must carry exactly the simulated weight. */
export function testStation(over: Partial<StationInput> = {}): StationInput {
  return {
    name: 'test',
    buses: { mb: { transport: 'modbus-tcp' }, rtu: { transport: 'rtu-tcp' } },
    posts: [
      {
        id: 'P1',
        flowKgPerMin: 30,
        scale: { protocol: 'modbus', bus: 'mb', unitId: 1, registerMap: 'flintec-ft112', divisionKg: 0.02, noiseKg: 0, updateHz: 20 },
        reader: {},
        valve: { bus: 'mb', unitId: 2, coil: 0, feedbackInput: 0, startInput: 1, stopInput: 2, openDelayMs: 50, closeDelayMs: 100, watchdogMs: 400 },
      },
      {
        id: 'P2',
        scale: { protocol: 'xk3190-a9', divisionKg: 0.02, noiseKg: 0, framesPerSecond: 20 },
        reader: { prefix: '\x02', suffix: '\x03' },
        valve: { bus: 'mb', unitId: 2, coil: 1, feedbackInput: 3, openDelayMs: 50, closeDelayMs: 100 },
      },
    ],
    checkScale: { protocol: 'modbus', bus: 'rtu', unitId: 5, registerMap: 'rinstrum-c500', divisionKg: 0.01, noiseKg: 0 },
    cylinders: [
      { code: 'CYL1', tareKg: 16.5, residualKg: 0.6 },
      { code: 'CYL2', tareKg: 13.4, residualKg: 0.8 },
    ],
    badges: ['B1001'],
    ...over,
  };
}

/** Splits `modbus-tcp://127.0.0.1:1234#unit=2` into port and unit. */
export function modbusTarget(url: string): { port: number; unitId: number } {
  const u = new URL(url);
  return { port: Number(u.port), unitId: Number(/unit=(\d+)/.exec(u.hash)?.[1] ?? 1) };
}

export async function modbusClient(url: string, kind: 'tcp' | 'rtu-tcp' = 'tcp'): Promise<ModbusClient> {
  const { port, unitId } = modbusTarget(url);
  const c = new ModbusRTU();
  if (kind === 'tcp') await c.connectTCP('127.0.0.1', { port });
  else await c.connectTelnet('127.0.0.1', { port }); // raw RTU over TCP (connectTcpRTUBuffered speaks MBAP)
  c.setID(unitId);
  c.setTimeout(1000);
  return c;
}

export function closeClient(c: ModbusClient): Promise<void> {
  return new Promise((r) => c.close(() => r()));
}

/** A raw TCP client that keeps every byte it received. */
export class ByteSink {
  bytes = Buffer.alloc(0);
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (b: Buffer) => (this.bytes = Buffer.concat([this.bytes, b])));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<ByteSink> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new ByteSink(s)));
      s.once('error', reject);
    });
  }

  take(): Buffer {
    const b = this.bytes;
    this.bytes = Buffer.alloc(0);
    return b;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  close(): void {
    this.socket.destroy();
  }
}

export const portOf = (url: string) => Number(new URL(url).port);
