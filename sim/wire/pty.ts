/**
 * One end of a socat pty pair: the simulator holds `<dir>/<name>-sim`, the
 * gateway opens `<dir>/<name>` as a serial port. A pty ignores the baud rate,
 * so every transmission is held back by its wire time (bytes × 10 / baud,
 * engineering.md "A pty ignores baud rate").
 *
 * socat exits when a side it reads from hangs up (the gateway closed its end);
 * the endpoint then starts a new pair under the same names, as a device server
 * would keep its port. A link-drop fault kills socat on purpose: the device
 * node disappears, like an unplugged USB adapter.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { FillgateError } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import { sleep } from '../../protocols/clock.ts';
import { type Conn, type Endpoint, LinePacer } from './endpoint.ts';

let socatChecked: boolean | undefined;

/** Whether socat is installed (checked once). */
export function socatAvailable(): boolean {
  if (socatChecked === undefined) {
    const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
    socatChecked = r.status === 0;
  }
  return socatChecked;
}

const PEER: Conn = { id: 1 };
/** Bytes queued towards a gateway that does not read before frames are dropped (a real line loses them too). */
const MAX_QUEUED = 4096;

export class PtyEndpoint implements Endpoint {
  readonly kind = 'pty';
  readonly data = new Signal<{ conn: Conn; bytes: Buffer }>();
  readonly peers = new Signal<{ conn: Conn; open: boolean }>();
  bytesLost = 0;
  /** How many times socat had to be restarted because the gateway side hung up. */
  restarts = 0;
  readonly path: string;
  private readonly simPath: string;
  private readonly pacer: LinePacer;
  private socat: ChildProcess | undefined;
  private port: SerialPort | undefined;
  private closed = false;
  private downNow = false;
  private dropTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    dir: string,
    name: string,
    readonly baud: number,
    private readonly scheme: 'serial' | 'modbus-rtu',
  ) {
    this.path = join(dir, name);
    this.simPath = join(dir, `${name}-sim`);
    this.pacer = new LinePacer(baud);
  }

  static async open(dir: string, name: string, baud: number, scheme: 'serial' | 'modbus-rtu' = 'serial'): Promise<PtyEndpoint> {
    if (!socatAvailable()) throw new FillgateError('LINK_OPEN_FAILED', 'socat is not installed: install it (apt-get install socat) or use tcp transport', {});
    mkdirSync(dir, { recursive: true });
    const ep = new PtyEndpoint(dir, name, baud, scheme);
    await ep.start();
    return ep;
  }

  get url(): string {
    return `${this.scheme}://${this.path}?baud=${this.baud}`;
  }

  get down(): boolean {
    return this.downNow;
  }

  wireTimeMs(byteCount: number): number {
    return this.pacer.wireTimeMs(byteCount);
  }

  send(_conn: Conn, bytes: Buffer): void {
    this.broadcast(bytes);
  }

  broadcast(bytes: Buffer): void {
    const port = this.port;
    if (this.downNow || !port?.isOpen || port.writableLength > MAX_QUEUED) {
      this.bytesLost += bytes.length;
      return;
    }
    const delay = this.pacer.schedule(bytes.length);
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.port === port && port.isOpen) port.write(bytes);
      else this.bytesLost += bytes.length;
    }, delay);
    this.timers.add(t);
  }

  peerCount(): number {
    return this.port?.isOpen ? 1 : 0;
  }

  drop(ms: number): void {
    if (this.closed) return;
    this.downNow = true;
    clearTimeout(this.dropTimer);
    void this.stop();
    this.dropTimer = setTimeout(() => {
      if (this.closed) return;
      this.start()
        .then(() => (this.downNow = false))
        .catch(() => this.drop(200));
    }, ms);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.dropTimer);
    await this.stop();
  }

  private async start(): Promise<void> {
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.simPath}`, `pty,raw,echo=0,link=${this.path}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    socat.stderr?.resume(); // socat -d -d logs to stderr; drain it
    this.socat = socat;
    socat.on('exit', () => this.onSocatExit(socat));
    const deadline = performance.now() + 5000;
    while (!(existsSync(this.simPath) && existsSync(this.path))) {
      if (performance.now() > deadline || socat.exitCode !== null) {
        socat.kill();
        throw new FillgateError('LINK_OPEN_FAILED', `socat did not create ${this.path}`, { path: this.path });
      }
      await sleep(10);
    }
    this.port = await openPort(this.simPath, this.baud);
    this.port.on('data', (bytes: Buffer) => this.data.emit({ conn: PEER, bytes }));
    this.port.on('error', () => undefined);
    this.pacer.reset();
    this.peers.emit({ conn: PEER, open: true });
  }

  private onSocatExit(socat: ChildProcess): void {
    if (this.socat !== socat) return;
    this.socat = undefined;
    void this.closePort();
    if (this.closed || this.downNow) return;
    // The gateway closed its end and socat ended with it: offer the line again.
    this.restarts++;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed && !this.downNow && !this.socat) this.start().catch(() => this.drop(500));
    }, 50);
    this.timers.add(t);
  }

  private async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const socat = this.socat;
    this.socat = undefined;
    await this.closePort();
    if (socat && socat.exitCode === null) {
      const exited = new Promise<void>((r) => socat.once('exit', () => r()));
      socat.kill();
      await Promise.race([exited, sleep(2000)]);
    }
  }

  private closePort(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (!port) return Promise.resolve();
    this.peers.emit({ conn: PEER, open: false });
    port.removeAllListeners('data');
    return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
  }
}

function openPort(path: string, baudRate: number): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((err) => (err ? reject(new FillgateError('LINK_OPEN_FAILED', `cannot open ${path}: ${err.message}`, { path }, { cause: err })) : resolve(port)));
  });
}
