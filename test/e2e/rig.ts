/**
 * One integration harness (engineering.md example 8): the real simulator on
 * ephemeral loopback ports, the real gateway runtime pointed at it through the
 * example config, a fresh data dir with the example registry imported.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { loadConfigFile, type GatewayConfig } from '../../gateway/config/config.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import { Station } from '../../gateway/runtime/station.ts';
import type { PostEvent } from '../../gateway/runtime/post.ts';
import { silentLogs, createLogFactory } from '../../gateway/log.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import type { Clock } from '../../protocols/clock.ts';

const root = new URL('../..', import.meta.url).pathname;

export interface Rig {
  sim: Simulator;
  station: Station;
  config: GatewayConfig;
  dataDir: string;
  records: FillAttempt[];
  events: PostEvent[];
  /** Poll until fn() is truthy; throws with `what` after timeoutMs. */
  until<T>(what: string, fn: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  phase(post: string): string;
  restartGateway(): Promise<void>;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Changes to the example gateway config (after wiring to the simulator). */
  tweak?: (cfg: GatewayConfig) => void;
  /** Changes before wiring, e.g. posts added to match stationTweak (wiring then points them at the simulator). */
  preWire?: (cfg: GatewayConfig) => void;
  /** Changes to the example station file (e.g. flow rates) before the simulator starts. */
  stationTweak?: (doc: any) => void;
  dataDir?: string;
  keepDataDir?: boolean;
  /** Station and matching gateway config (default examples/station.yaml and examples/gateway.yaml). */
  stationFile?: string;
  gatewayFile?: string;
  /** The gateway's clock (default the system clock), e.g. one whose wall time a test sets forward. */
  clock?: Clock;
}

export function exampleConfig(file = 'examples/gateway.yaml'): GatewayConfig {
  const r = loadConfigFile(join(root, file));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const doc = parseYaml(readFileSync(join(root, opts.stationFile ?? 'examples/station.yaml'), 'utf8'));
  opts.stationTweak?.(doc);
  const sim = await startSimulator(doc, { portsFromZero: true, ptyDir: mkdtempSync(join(tmpdir(), 'fg-pty-')) });
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fg-e2e-'));
  const example = exampleConfig(opts.gatewayFile);
  opts.preWire?.(example);
  const config = wireConfigToSim(example, sim.deviceEndpoints());
  config.dataDir = dataDir;
  config.http.port = 0;
  // Two test files share two cores in CI: a 300 ms event-loop stall is a test-machine artefact, so the
  // stale-weight trip gets 1 s here. The trip itself is tested with a scale that stops answering.
  config.fill.staleAfterPolls = 10;
  opts.tweak?.(config);
  const records: FillAttempt[] = [];
  const events: PostEvent[] = [];
  const logs = process.env.E2E_LOG ? createLogFactory({ level: process.env.E2E_LOG as 'info' }) : silentLogs;
  let station = new Station(config, { logs, clock: opts.clock });
  const track = (s: Station) =>
    s.events.on((e) => {
      events.push(e);
      if (e.kind === 'record') records.push(e.attempt);
    });
  await station.start();
  importExamples(station);
  track(station);
  const rig: Rig = {
    sim,
    get station() {
      return station;
    },
    config,
    dataDir,
    records,
    events,
    async until(what, fn, timeoutMs = 20_000) {
      const t0 = Date.now();
      for (;;) {
        const v = fn();
        if (v) return v as never;
        if (Date.now() - t0 > timeoutMs) {
          const phases = [...station.posts.values()].map((p) => `${p.id}=${p.snapshot.phase.kind}`).join(' ');
          const last = records.at(-1);
          throw new Error(`timed out waiting for ${what} (${phases}; last record: ${last ? `${last.post} ${last.cylinderCode} ${last.outcome} ${JSON.stringify([...last.trips, ...last.refusals])}` : 'none'})`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    phase: (post) => station.posts.get(post)?.snapshot.phase.kind ?? 'none',
    async restartGateway() {
      await station.stop();
      station = new Station(config, { logs, clock: opts.clock });
      await station.start();
      track(station);
    },
    async close() {
      await station.stop();
      await sim.close();
      if (!opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  } as Rig;
  return rig;
}

export function importExamples(station: Station): void {
  const cyl = station.registry.importCylinders(readFileSync(join(root, 'examples/cylinders.csv'), 'utf8'), 'csv');
  const ops = station.registry.importOperators(readFileSync(join(root, 'examples/operators.csv'), 'utf8'), 'csv');
  if (!cyl.applied || !ops.applied) throw new Error(`example registry import failed: ${JSON.stringify([cyl.issues, ops.issues])}`);
}

/** Place, scan, badge the filler, press start: the operator's part of a fill. */
export async function beginFill(rig: Rig, post: string, code: string, filler = 'B1001'): Promise<void> {
  rig.sim.place(post, code);
  await rig.until(`${post} scale shows the cylinder`, () => rig.sim.state().posts.find((p) => p.id === post)!.scale.grossKg > 1);
  rig.sim.scan(post, code);
  await rig.until(`${post} verified`, () => rig.phase(post) === 'verified' || rig.phase(post) === 'cylinderReady' || (rig.phase(post) === 'idle' && rig.records.some((r) => r.cylinderCode === code)));
  rig.sim.badge(post, filler);
}
