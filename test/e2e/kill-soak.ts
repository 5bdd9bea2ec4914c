/**
 * The kill soak (issue 13 "Done when"), shared by test/e2e/kill-soak.test.ts (short) and
 * test/bench/kill-soak.ts (30 kills): the gateway runs as a child process (`fillgate start --config`)
 * against the simulator in this process (2 posts and the check-weigh scale of examples/station.yaml,
 * the relay module's 2 s comms watchdog ON as on a real station), two operators fill fresh YSP4.7
 * cylinders continuously (place, scan, badge, start, check-weigh with the checker, remove), and a
 * seeded plan SIGKILLs the gateway at random moments and restarts it.
 *
 * While the gateway is dead the operators wait (nobody takes a cylinder off a post mid-fill) and
 * the valve stays open until the relay's watchdog drops it: a fill killed late enough overfills.
 * At the end, from outside (records.db, station.db, the gateway's output, `records verify`):
 * - one record per scanned attempt (a scan the reader delivered to the gateway);
 * - every interrupted record carries the masses its journal held at the kill, a filled mass or a
 *   re-weighed gross when the valve had opened, a duration where the fill ran, one PROCESS_INTERRUPTED trip;
 * - every cylinder over its allowed mass (the simulator's own gas, not the gateway's word) is
 *   recorded as such, quarantined in the registry, and alarmed (log line and signed alarm event);
 * - the chain verifies.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import Database from '../../gateway/sqlite.ts';
import { startSimulator, mulberry32, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import type { FillRecordV1 } from '../../gateway/records/record.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import { exampleConfig } from './rig.ts';
import { TARE_KG, soakCylinders } from './soak-station.ts';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, TZ: 'UTC' };
const ALLOWED_KG = 2; // YSP4.7 (soak-station.ts)
/** A cylinder more than this over its allowed mass must be found over it (scale division 20 g, noise 20 g). */
const OVER_MARGIN_KG = 0.05;
/** Journal stages after which the valve may have been open (gateway/runtime/recovery.ts). */
const OPENED = new Set(['open', 'cutOff', 'topUp', 'settled', 'reweigh', 'checker', 'reweighed']);
/** Stages after the cut-off: the fill ran, its duration and filled mass are known. */
const AFTER_CUTOFF = new Set(['cutOff', 'topUp', 'settled', 'reweigh', 'checker', 'reweighed']);
const IDLE = new Set(['idle', 'closedOut', 'aborted']);
const MASS_FIELDS = ['scanGrossKg', 'netFilledKg', 'reweighedGrossKg', 'reweighedNetKg'] as const;
const gramsField = (k: (typeof MASS_FIELDS)[number]) => k.replace(/Kg$/, 'G') as keyof FillRecordV1;

export interface KillSoakOptions {
  seed: number;
  kills: number;
  /** The gateway runs this long (ms) between a restart and the next kill: min + rng × spread. */
  runMinMs?: number;
  runSpreadMs?: number;
  log?: (line: string) => void;
}

export interface KillSoakReport {
  seed: number;
  seconds: number;
  kills: number;
  /** Scans the reader delivered to the gateway (an attempt each). */
  attempts: number;
  /** Scans written to the gateway's socket within 1 s before a kill that the gateway never read (no journal row, no record). */
  unreadAtKill: number;
  /** Records of those attempts (one each is the goal). */
  records: number;
  outcomes: Record<string, number>;
  interrupted: number;
  /** Interrupted after the valve opened, carrying a filled mass or re-weighed gross (and a duration after the cut-off). */
  interruptedWithMasses: number;
  /** Interrupted before the open (scan/verify): nothing was filled. */
  interruptedBeforeOpen: number;
  /** Cylinders the simulator holds over their allowed mass. */
  overfills: number;
  overfillsFromKills: number;
  overfillsQuarantined: number;
  overfillsAlarmed: number;
  chainOk: boolean;
  /** Every departure from the goals, one line each (empty: the soak passed). */
  problems: string[];
}

interface Scan {
  post: string;
  code: string;
  t: number;
}
interface JournalRow {
  post: string;
  stage: string | null;
  attempt: FillAttempt;
}
interface KillNote {
  n: number;
  t: number;
  journal: JournalRow[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, env, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

/** The gateway as a child process; its phases read from GET /status. */
class Gateway {
  proc: ChildProcess | undefined;
  up = false;
  /** Everything every run printed. */
  output = '';
  private url = '';
  private poller: NodeJS.Timeout | undefined;
  private phases = new Map<string, { phase: string; grossKg?: number }>();

  constructor(private readonly cfgFile: string) {}

  phase(post: string): string {
    return this.phases.get(post)?.phase ?? 'none';
  }
  grossKg(post: string): number | undefined {
    return this.phases.get(post)?.grossKg;
  }

  async start(): Promise<number> {
    const t0 = performance.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'start', '--config', this.cfgFile], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    const from = this.output.length;
    const on = (d: Buffer) => (this.output += d);
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    this.url = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /"url":"(http:[^"]+)".*status and metrics served/.exec(this.output.slice(from));
        if (m) done(() => resolve(m[1]!));
        else if (performance.now() - t0 > 90_000) done(() => reject(new Error(`gateway did not start: ${this.output.slice(from).slice(-3000)}`)));
      }, 20);
      const onExit = (code: number | null) => done(() => reject(new Error(`gateway exited ${code} at start: ${this.output.slice(from).slice(-3000)}`)));
      proc.once('exit', onExit);
      function done(f: () => void) {
        clearInterval(t);
        proc.off('exit', onExit);
        f();
      }
    });
    this.phases.clear();
    await this.poll();
    this.poller = setInterval(() => void this.poll(), 100);
    this.up = true;
    return performance.now() - t0;
  }

  private async poll(): Promise<void> {
    try {
      const res = await fetch(`${this.url}/status`);
      const s = (await res.json()) as { posts: { id: string; phase: string; grossKg?: number }[] };
      if (this.up || this.proc) for (const p of s.posts) this.phases.set(p.id, { phase: p.phase, grossKg: p.grossKg });
    } catch {
      // killed meanwhile
    }
  }

  async end(signal: NodeJS.Signals): Promise<void> {
    this.up = false;
    clearInterval(this.poller);
    this.phases.clear();
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    }
  }
}

export async function runKillSoak(o: KillSoakOptions): Promise<KillSoakReport> {
  const log = o.log ?? (() => undefined);
  const rng = mulberry32(o.seed);
  const ops = mulberry32(o.seed ^ 0x5bd1e995);
  const runMin = o.runMinMs ?? 2000;
  const runSpread = o.runSpreadMs ?? 10_000;
  const t0 = performance.now();

  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  doc.posts[0].flowKgPerMin = 30; // 0.5 kg/s: a 2 s watchdog lets 1 kg more in after a kill
  doc.posts[1].flowKgPerMin = 40;
  for (const p of doc.posts) p.valve.watchdogMs = 2000;
  const dir = mkdtempSync(join(tmpdir(), 'fg-killsoak-'));
  const sim: Simulator = await startSimulator(doc, { portsFromZero: true, ptyDir: join(dir, 'pty') });
  const cfg: GatewayConfig = wireConfigToSim(exampleConfig(), sim.deviceEndpoints());
  cfg.dataDir = join(dir, 'data');
  cfg.http.port = 0;
  cfg.fill.staleAfterPolls = 10; // two loaded cores: a 300 ms stall is the machine, not the scale
  cfg.log = { ...cfg.log, level: 'info', levels: { ...(cfg.log.levels ?? {}), link: 'warn' } };
  delete (cfg.records as { utcOffsetMinutes?: number }).utcOffsetMinutes;
  const cfgFile = join(dir, 'gateway.yaml');
  writeFileSync(cfgFile, stringify(cfg));
  const { csv, codes } = soakCylinders(Math.max(200, o.kills * 12));
  writeFileSync(join(dir, 'cylinders.csv'), csv);
  for (const [what, file] of [['cylinders', join(dir, 'cylinders.csv')], ['operators', join(root, 'examples/operators.csv')]] as const) {
    const r = await cli(['registry', 'import', '--config', cfgFile, what, file]);
    if (r.status !== 0) throw new Error(`registry import ${what}: ${r.stdout}${r.stderr}`);
  }

  const gw = new Gateway(cfgFile);
  log(`gateway up in ${(await gw.start()).toFixed(0)} ms`);
  const scans: Scan[] = [];
  const kills: KillNote[] = [];
  /** The gas in each cylinder when it last left a scale (or at the end): the simulator's truth. */
  const gas = new Map<string, number>();
  let nextCode = 0;
  let stop = false;
  let checkScale: Promise<void> = Promise.resolve();

  /** Polls fn; the time the gateway is down does not count against `ms`. */
  const until = async (fn: () => boolean, ms: number): Promise<boolean> => {
    let left = ms;
    while (!fn()) {
      if (left <= 0) return false;
      await sleep(25);
      if (gw.up) left -= 25;
    }
    return true;
  };
  const waitUp = () => until(() => gw.up, 1);
  const simPost = (post: string) => sim.state().posts.find((p) => p.id === post)!;
  const takeOff = (post: string) => {
    const c = sim.remove(post);
    if (c) gas.set(c.code, c.gasKg);
  };
  const takeOffCheck = () => {
    const c = sim.removeCheck();
    if (c) gas.set(c.code, c.gasKg);
  };
  const people: Record<string, { filler: string; checker: string }> = { P1: { filler: 'B1001', checker: 'B1002' }, P2: { filler: 'B1002', checker: 'B1001' } };

  async function operate(post: string): Promise<void> {
    const who = people[post]!;
    const ph = () => (gw.up ? gw.phase(post) : 'down');
    while (!stop) {
      await waitUp();
      if (!(await until(() => IDLE.has(ph()) || ph() === 'fault', 20_000))) log(`${post}: stuck in ${ph()}`);
      await waitUp();
      if (simPost(post).cylinder) takeOff(post);
      if (ph() === 'fault') {
        await until(() => (gw.grossKg(post) ?? 99) < 1, 3000);
        sim.badge(post, 'B1009');
        await until(() => ph() !== 'fault', 3000);
        continue;
      }
      if (!(await until(() => (gw.grossKg(post) ?? 99) < 1, 5000))) continue;
      if (nextCode >= codes.length) break;
      const code = codes[nextCode++]!;
      sim.place(post, code, { tareKg: TARE_KG, residualKg: 0.1 + 0.25 * ops() });
      await until(() => (gw.grossKg(post) ?? 0) > 1, 5000);
      await sleep(300 + 700 * ops()); // the weight settles
      await waitUp();
      if (sim.scan(post, code)) scans.push({ post, code, t: performance.now() });
      else continue;
      const ready = await until(() => ['verified', 'cylinderReady'].includes(ph()), 4000);
      if (ready) {
        sim.badge(post, who.filler);
        if (await until(() => ph() === 'cylinderReady', 4000)) {
          sim.press(post, 'start', 300);
          await until(() => ph() === 'checked' || ph() === 'fault' || IDLE.has(ph()), 40_000);
        }
      }
      if (ph() === 'checked') {
        const mine = checkScale.then(async () => {
          if (ph() !== 'checked') return;
          try {
            sim.toCheck(post);
          } catch {
            return;
          }
          await sleep(200 + 300 * ops());
          sim.badge(post, who.checker);
          await until(() => ph() === 'reweighed' || IDLE.has(ph()) || ph() === 'fault', 10_000);
          await sleep(100 + 200 * ops());
          await waitUp();
          if (sim.state().check?.cylinder?.code === code) takeOffCheck();
          await until(() => IDLE.has(ph()) || ph() === 'fault', 5000);
        });
        checkScale = mine.catch(() => undefined);
        await mine;
        await waitUp();
        if (sim.state().check?.cylinder?.code === code) takeOffCheck();
      }
    }
  }

  async function killer(): Promise<void> {
    for (let n = 1; n <= o.kills; n++) {
      await sleep(runMin + runSpread * rng());
      const phases = ['P1', 'P2'].map((p) => `${p}=${gw.phase(p)}`).join(' ');
      await gw.end('SIGKILL');
      const journal = readJournal(cfg.dataDir);
      kills.push({ n, t: performance.now(), journal });
      log(`kill ${n}: ${phases}; journal ${journal.map((j) => `${j.post}:${j.stage}`).join(' ') || 'empty'}`);
      await sleep(2500 + 1000 * rng()); // the relay's 2 s watchdog drops the valve meanwhile
      for (const p of sim.state().posts) if (p.cylinder && p.cylinder.gasKg > ALLOWED_KG + OVER_MARGIN_KG) log(`  ${p.id} ${p.cylinder.code} holds ${p.cylinder.gasKg.toFixed(2)} kg while the gateway is down`);
      const ms = await gw.start();
      log(`  restarted in ${ms.toFixed(0)} ms`);
    }
    stop = true;
  }

  await Promise.all([killer(), operate('P1'), operate('P2')]);
  // The last attempts end (operators stopped taking new cylinders), then a plain stop.
  await until(() => ['P1', 'P2'].every((p) => IDLE.has(gw.phase(p)) || gw.phase(p) === 'fault'), 30_000);
  for (const p of ['P1', 'P2']) if (simPost(p).cylinder) takeOff(p);
  takeOffCheck();
  await gw.end('SIGTERM');

  const report = await check({ dataDir: cfg.dataDir, cfgFile, scans, kills, gas, output: gw.output });
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
  return { seed: o.seed, seconds: Math.round((performance.now() - t0) / 100) / 10, ...report };
}

function readJournal(dataDir: string): JournalRow[] {
  const file = join(dataDir, 'records.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT post, stage, attempt FROM records_in_progress').all() as { post: string; stage: string | null; attempt: string }[];
    return rows.map((r) => ({ post: r.post, stage: r.stage, attempt: JSON.parse(r.attempt) as FillAttempt }));
  } finally {
    db.close();
  }
}

async function check(i: { dataDir: string; cfgFile: string; scans: Scan[]; kills: KillNote[]; gas: Map<string, number>; output: string }): Promise<Omit<KillSoakReport, 'seed' | 'seconds'>> {
  const problems: string[] = [];
  const rdb = new Database(join(i.dataDir, 'records.db'), { readonly: true, fileMustExist: true });
  const records = (rdb.prepare('SELECT body FROM records ORDER BY seq').all() as { body: string }[]).map((r) => JSON.parse(r.body) as FillRecordV1);
  const alarms = (rdb.prepare("SELECT body FROM events WHERE kind = 'alarm.raised'").all() as { body: string }[]).map((r) => JSON.parse(r.body) as { detail?: string; data?: { alarmKind?: string } });
  rdb.close();
  const sdb = new Database(join(i.dataDir, 'station.db'), { readonly: true, fileMustExist: true });
  const status = new Map((sdb.prepare('SELECT code, status FROM cylinders').all() as { code: string; status: string }[]).map((r) => [r.code, r.status]));
  sdb.close();

  // One record per scanned attempt.
  const byCode = new Map<string, FillRecordV1[]>();
  for (const r of records) if (r.cylinderCode) byCode.set(r.cylinderCode, [...(byCode.get(r.cylinderCode) ?? []), r]);
  let recorded = 0;
  let unread = 0;
  for (const s of i.scans) {
    const n = byCode.get(s.code)?.length ?? 0;
    recorded += n;
    if (n === 0) {
      const kill = i.kills.find((k) => k.t >= s.t && k.t - s.t < 1000);
      // The scan reached the gateway's socket but the process died before it read it: the gateway
      // journals a scan in the step that reads it (before-fill.ts, stage 'scan'), so a journal read
      // at the kill without this code means the scan never became an attempt (no valve can open
      // without a journal row either). Any other scan without a record is a lost record.
      if (kill && !kill.journal.some((row) => row.attempt.cylinderCode === s.code)) {
        unread++;
        continue;
      }
      problems.push(`no record for the attempt scanned at ${s.post}: ${s.code}${kill ? ` (kill ${kill.n} came ${(kill.t - s.t).toFixed(0)} ms after the scan)` : ''}`);
    }
    if (n > 1) problems.push(`${n} records for one attempt at ${s.post}: ${s.code}`);
  }
  const scanned = new Set(i.scans.map((s) => s.code));
  for (const r of records) if (r.cylinderCode && !scanned.has(r.cylinderCode)) problems.push(`record ${r.seq} for ${r.cylinderCode}, never scanned`);

  // Interrupted records against the journal at the kill.
  const journalAt = new Map<string, { kill: number; row: JournalRow }>();
  for (const k of i.kills) for (const row of k.journal) journalAt.set(row.attempt.attemptId, { kill: k.n, row });
  const interrupted = records.filter((r) => r.outcome === 'interrupted');
  let withMasses = 0;
  let beforeOpen = 0;
  for (const r of interrupted) {
    const at = journalAt.get(r.id);
    const trips = r.trips.filter((t) => t.code === 'PROCESS_INTERRUPTED').length;
    if (trips !== 1) problems.push(`interrupted record ${r.seq} (${r.cylinderCode}) has ${trips} PROCESS_INTERRUPTED trips`);
    if (!at) {
      problems.push(`interrupted record ${r.seq} (${r.cylinderCode}) matches no journal read at a kill`);
      continue;
    }
    const stage = at.row.stage ?? 'open';
    const a = at.row.attempt;
    const missing: string[] = [];
    for (const k of MASS_FIELDS) if (a[k] !== undefined && r[gramsField(k)] === undefined) missing.push(`${k} (${a[k]} kg journalled)`);
    if (a.checker && !r.checker) missing.push('checker');
    if (OPENED.has(stage)) {
      if (r.startedAt === undefined) missing.push('startedAt');
      if (r.netFilledG === undefined && r.reweighedGrossG === undefined) missing.push('a filled mass or a re-weighed gross');
    }
    if (AFTER_CUTOFF.has(stage)) {
      if (!(r.durationMs !== undefined && r.durationMs > 0)) missing.push(`duration > 0 (${r.durationMs})`);
      if (r.netFilledG === undefined) missing.push('netFilledG');
    }
    if (missing.length) problems.push(`interrupted record ${r.seq} (${r.cylinderCode}, kill ${at.kill} at ${stage}) lacks ${missing.join(', ')}`);
    else if (OPENED.has(stage)) withMasses++;
    else beforeOpen++;
  }

  // Overfills: the simulator's gas, not the gateway's word.
  const fromKills = new Set<string>();
  for (const k of i.kills) for (const row of k.journal) if (OPENED.has(row.stage ?? 'open') && row.attempt.cylinderCode) fromKills.add(row.attempt.cylinderCode);
  let overfills = 0;
  let overfillsFromKills = 0;
  let quarantined = 0;
  let alarmed = 0;
  for (const [code, kg] of i.gas) {
    if (kg <= ALLOWED_KG + OVER_MARGIN_KG) continue;
    overfills++;
    if (fromKills.has(code)) overfillsFromKills++;
    const recs = byCode.get(code) ?? [];
    const shown = recs.some((r) => r.mustDecant === true || (r.reweighedNetG ?? 0) > ALLOWED_KG * 1000);
    if (!shown) problems.push(`${code} holds ${kg.toFixed(3)} kg (allowed ${ALLOWED_KG}): no record shows the overfill (${recs.map((r) => `${r.outcome} reweighedNetG=${r.reweighedNetG} netFilledG=${r.netFilledG}`).join('; ') || 'no record'})`);
    if (status.get(code) === 'quarantined') quarantined++;
    else problems.push(`${code} holds ${kg.toFixed(3)} kg (allowed ${ALLOWED_KG}): registry status ${status.get(code)}, not quarantined`);
    const logged = i.output.split('\n').some((l) => l.includes(`OVERFILLED cylinder ${code}`) || (l.includes(code) && l.includes('held for a decant')));
    const signed = alarms.some((a) => (a.detail ?? '').includes(code));
    if (logged && signed) alarmed++;
    else problems.push(`${code} holds ${kg.toFixed(3)} kg: alarm ${logged ? '' : 'not logged'}${!logged && !signed ? ', ' : ''}${signed ? '' : 'not in the signed event log'}`);
  }

  const verify = await cli(['records', 'verify', '--config', i.cfgFile]);
  if (verify.status !== 0) problems.push(`records verify exit ${verify.status}: ${(verify.stdout + verify.stderr).slice(-1000)}`);
  const outcomes: Record<string, number> = {};
  for (const r of records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  return {
    kills: i.kills.length,
    attempts: i.scans.length - unread,
    unreadAtKill: unread,
    records: recorded,
    outcomes,
    interrupted: interrupted.length,
    interruptedWithMasses: withMasses,
    interruptedBeforeOpen: beforeOpen,
    overfills,
    overfillsFromKills,
    overfillsQuarantined: quarantined,
    overfillsAlarmed: alarmed,
    chainOk: verify.status === 0,
    problems,
  };
}

export function formatKillSoak(r: KillSoakReport): string {
  return [
    `kill soak (seed ${r.seed}, ${r.seconds} s): ${r.kills} SIGKILLs, ${r.attempts} scanned attempts${r.unreadAtKill ? ` (+${r.unreadAtKill} scan${r.unreadAtKill > 1 ? 's' : ''} unread at a kill)` : ''}, ${r.records} records (${Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    `  interrupted ${r.interrupted}: ${r.interruptedWithMasses} after the open with their masses, ${r.interruptedBeforeOpen} before the open`,
    `  overfills ${r.overfills} (${r.overfillsFromKills} from kills): quarantined ${r.overfillsQuarantined}, alarmed ${r.overfillsAlarmed}`,
    `  chain ${r.chainOk ? 'ok' : 'BROKEN'}; problems ${r.problems.length}${r.problems.length ? `:\n    ${r.problems.slice(0, 30).join('\n    ')}` : ''}`,
  ].join('\n');
}
