/**
 * Cut-off reaction over the whole path (issue 3 point 9): 32 posts, each a real
 * ModbusScaleDriver polled at 10 Hz and a real ModbusValveDriver, eight posts and
 * one relay module per Modbus TCP bus (4 buses), the real PostRuntime and
 * controller. A field server per bus serves the scales' registers and the relay
 * coils. Mid-fill the field drops a cylinder's weight (hose break): the time from
 * the first reply carrying the drop to the coil-OFF frame arriving at the relay
 * module is the reaction. Also: predicted cut-offs, from the controller's
 * scheduled wake-up to the coil-OFF frame.
 *
 * The field servers run in their own worker thread (cutoff-field.ts) and time the frames there:
 * from the first reply that carried the dropped weight to the coil-OFF frame's arrival. In this
 * thread a frame that was already on the socket was timed only after whatever the gateway's
 * thread did next (the record's commit), which is not what a relay module sees.
 *
 * The records, in-progress journal and learned preacts go to the real stores as in
 * `fillgate start` (records.db synchronous=FULL, signed and chained; station.db in WAL): the
 * close must reach the socket before the commit of its record (issue 14, "the bench flatters":
 * with the writes stubbed this bench measured a path no station runs).
 *
 * Run: node --import tsx test/bench/cutoff-path.ts [seconds]   (or npm run bench)
 */
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { systemClock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import type { CodeRead, DeviceHealth, ReaderDriver } from '../../devices/types.ts';
import { controllerConfig } from '../../gateway/controller/index.ts';
import { PostRuntime, type PostEnv } from '../../gateway/runtime/post.ts';
import { silentLogs } from '../../gateway/log.ts';
import Database from '../../gateway/sqlite.ts';
import { RecordStore } from '../../gateway/records/store.ts';
import { PreactStore } from '../../gateway/runtime/preacts.ts';
import { makeKeys } from '../gateway/records/fixtures.ts';
import { percentile } from './fill-accuracy.ts';
import { RELAY_UNIT, RESIDUAL, TARE, type FromField, type ToField } from './cutoff-field.ts';

const BUSES = 4;
const PER_BUS = 8;
/** A post's field state as the field thread last reported it (the coil), and how to change it. */
class FieldPost {
  coil = false;
  constructor(
    private readonly w: Worker,
    readonly bus: number,
    readonly post: number,
  ) {}
  set(m: { present?: boolean; filledKg?: number; dropKg?: number }): void {
    this.w.postMessage({ t: 'post', bus: this.bus, post: this.post, ...m } satisfies ToField);
  }
}

class FakeReader implements ReaderDriver {
  readonly reads = new Signal<CodeRead>();
  readonly health = new Signal<DeviceHealth>();
  constructor(readonly id: string) {}
  async start() {}
  async stop() {}
  getHealth(): DeviceHealth {
    return { device: this.id, state: 'online', framesDiscarded: 0, requests: 0, failures: 0 };
  }
}

export interface Result {
  posts: number;
  pollHz: number;
  /** Records committed to the real store during the run, and store writes that failed. */
  records: number;
  storeFailures: number;
  sampleToCoilOffMs: { n: number; p50: number; p99: number; max: number };
  wakeToCoilOffMs: { n: number; p50: number; p99: number; max: number };
  goal: { p99UnderTwoMs: boolean };
}

export async function run(opts: { seconds?: number; print?: boolean } = {}): Promise<Result> {
  const seconds = opts.seconds ?? 30;
  const dir = mkdtempSync(join(tmpdir(), 'fg-cutoff-path-'));
  const store = new RecordStore({ db: join(dir, 'records.db'), clock: systemClock, station: 'BENCH', privateKey: makeKeys().privateKey });
  const stationDb = new Database(join(dir, 'station.db'));
  stationDb.pragma('journal_mode = WAL');
  const preacts = new PreactStore(stationDb);
  let records = 0;
  let storeFailures = 0;
  // The field (scales and relay modules) in its own thread: its clock sees the frames as a device would.
  const worker = new Worker(new URL('./cutoff-field.js', import.meta.url), { workerData: { cutoffField: { buses: BUSES, perBus: PER_BUS } } });
  const field: FieldPost[][] = Array.from({ length: BUSES }, (_, b) => Array.from({ length: PER_BUS }, (_, i) => new FieldPost(worker, b, i)));
  const sampleLat: number[] = [];
  const wakeLat: number[] = [];
  /** Per post: the shared-clock time of the tick that decided a predicted close. */
  const closeWake = new Map<FieldPost, number>();
  const ports = await new Promise<number[]>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m: FromField) => {
      if (m.t === 'ports') resolve(m.ports);
      else if (m.t === 'coil') field[m.bus]![m.post]!.coil = m.on;
      else if (m.t === 'dropLat') sampleLat.push(m.ms);
      else if (m.t === 'offAt') {
        const fp = field[m.bus]![m.post]!;
        const wake = closeWake.get(fp);
        if (wake !== undefined) wakeLat.push(m.at - wake);
        closeWake.delete(fp);
      }
    });
  });
  const buses = ports.map((port) => new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { timeoutMs: 500 }));
  await Promise.all(buses.map((b) => b.open()));
  const until = performance.now() + seconds * 1000 + 2000;
  const runtimes: { rt: PostRuntime; fp: FieldPost; reader: FakeReader; stop(): Promise<void> }[] = [];
  const map = { function: 3 as const, weight: { address: 0, type: 'int32' as const, wordOrder: 'big' as const, kind: 'gross' as const }, decimals: 2, status: { address: 2, type: 'uint16' as const, stable: { bit: 0 } } };
  for (let b = 0; b < BUSES; b++) {
    for (let i = 0; i < PER_BUS; i++) {
      const id = `P${b * PER_BUS + i + 1}`;
      const fp = field[b][i];
      const scale = new ModbusScaleDriver({ id: `${id}.scale`, unit: buses[b].unit(i + 1), map, pollHz: 10 });
      const valve = new ModbusValveDriver({ id: `${id}.valve`, unit: buses[b].unit(RELAY_UNIT), coil: i, confirmTimeoutMs: 500 });
      const reader = new FakeReader(`${id}.reader`);
      const env: PostEnv = {
        clock: systemClock,
        log: silentLogs('bench'),
        verify: async (_p, code) => ({ kind: 'verified', cylinder: { code, model: 'YSP35.5', tareKg: TARE, allowedFillKg: 14.9, medium: 'LPG', residualKg: RESIDUAL } }),
        lookupOperator: (badge) => ({ person: { badge }, roles: ['filler', 'checker'], certificateValid: true }),
        commit: (attempt) => void (store.append(attempt), records++),
        markInProgress: (post, attempt, o) => void store.markInProgress(post, attempt, o),
        clearInProgress: (post) => store.clearInProgress(post),
        savePreact: (post, model, entry) => preacts.save(post, model, entry),
        saveTiming: (post, timing) => preacts.saveTiming(post, `${RELAY_UNIT}:${post}`, timing),
        storeFailed: () => void storeFailures++,
      };
      const cfg = controllerConfig({ station: 'BENCH', unit: 'U', post: id, medium: 'LPG' }, { autoStart: true, pollHz: 10, stableCount: 2 });
      const rt = new PostRuntime(cfg, { scale, reader, valve }, env, {}, []);
      // A tick that produced the close: the controller's own timer at the predicted crossing.
      const origInput = rt.input.bind(rt);
      rt.input = (inp) => {
        const t = performance.timeOrigin + performance.now();
        origInput(inp);
        if (inp.kind === 'tick' && fp.coil && rt.lastCommands.some((c) => c.kind === 'closeValve')) closeWake.set(fp, t);
      };
      await valve.start();
      await scale.start();
      rt.start();
      runtimes.push({ rt, fp, reader, stop: async () => (rt.stop(), await scale.stop(), await valve.stop()) });
      void cycle(id, rt, fp, reader);
    }
  }
  async function cycle(id: string, rt: PostRuntime, fp: FieldPost, reader: FakeReader) {
    let n = 0;
    while (performance.now() < until) {
      n++;
      fp.set({ present: true, filledKg: 0, dropKg: 0 });
      await sleep(400);
      reader.reads.emit({ device: reader.id, raw: `C-${id}-${n}`, code: `C-${id}-${n}`, kind: 'cylinder', at: performance.now() });
      await sleep(100);
      reader.reads.emit({ device: reader.id, raw: 'B1', code: 'B1', kind: 'badge', at: performance.now() });
      if (!(await waitFor(() => fp.coil, 5000))) continue;
      // Half the fills end in a hose break at a random moment, the others at the target.
      if (n % 2 === 1) {
        await sleep(300 + Math.random() * 1500);
        fp.set({ dropKg: 3 });
      }
      await waitFor(() => !fp.coil, 60_000);
      await sleep(300);
      fp.set({ present: false });
      await sleep(400);
      rt.input({ kind: 'reset' });
    }
  }
  await sleep(seconds * 1000 + 3000);
  for (const r of runtimes) await r.stop();
  await Promise.all(buses.map((b) => b.close()));
  await worker.terminate();
  store.close();
  stationDb.close();
  rmSync(dir, { recursive: true, force: true });
  const stats = (xs: number[]) => ({ n: xs.length, p50: round(percentile(xs, 50)), p99: round(percentile(xs, 99)), max: round(Math.max(...xs)) });
  const result: Result = {
    posts: BUSES * PER_BUS,
    pollHz: 10,
    records,
    storeFailures,
    sampleToCoilOffMs: stats(sampleLat),
    wakeToCoilOffMs: stats(wakeLat),
    goal: { p99UnderTwoMs: percentile(sampleLat, 99) < 2 },
  };
  if (opts.print !== false) {
    console.log(`cut-off reaction, full path: ${result.posts} posts at 10 Hz, ${BUSES} Modbus TCP buses (8 scales + 1 relay module each); real record store: ${records} records committed, ${storeFailures} store failures`);
    console.log(`  dropped-weight reply → coil-OFF frame at the relay module: n=${result.sampleToCoilOffMs.n} p50 ${result.sampleToCoilOffMs.p50} ms  p99 ${result.sampleToCoilOffMs.p99} ms  max ${result.sampleToCoilOffMs.max} ms  (goal p99 < 2 ms: ${result.goal.p99UnderTwoMs ? 'met' : 'NOT met'})`);
    console.log(`  predicted cut-off, wake-up → coil-OFF frame:              n=${result.wakeToCoilOffMs.n} p50 ${result.wakeToCoilOffMs.p50} ms  p99 ${result.wakeToCoilOffMs.p99} ms  max ${result.wakeToCoilOffMs.max} ms`);
  }
  return result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 1000) / 1000;
async function waitFor(fn: () => boolean, ms: number): Promise<boolean> {
  const t0 = performance.now();
  while (!fn()) {
    if (performance.now() - t0 > ms) return false;
    await sleep(5);
  }
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ seconds: Number(process.argv[2] ?? 30) });
  process.exit(0);
}
