/**
 * `fillgate demo` (what `npm start` runs): the simulator and the gateway
 * together on loopback, a regulator's receiver beside them, and a scripted mix
 * of cylinders at two posts — normal fills and the refusals the rules demand —
 * with one line per outcome. No hardware, no config.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parse } from './args.ts';
import { loadConfigFile } from '../config/config.ts';
import { Station } from '../runtime/station.ts';
import { createLogFactory } from '../log.ts';
import { wireConfigToSim } from './sim-wiring.ts';
import { startReceiver } from '../receiver/server.ts';
import { publicKeyPemOf, loadPrivateKey } from '../records/keys.ts';
import { verifyRecords } from '../records/verify.ts';
import { startStatusServer } from '../http/server.ts';
import { stationMetrics } from '../http/metrics.ts';
import { hashPassword } from '../mqtt/password.ts';
import { outcomeLine } from './outcome-line.ts';
import { runScenario, type Step } from './demo-script.ts';
import { cliLang, t } from '../i18n/index.ts';
import { packageRoot } from '../paths.ts';

const root = packageRoot;

/** Post P1 and P2 work side by side; each list runs in order. Codes are in examples/cylinders.csv. */
export const demoScript: Record<string, Step[]> = {
  P1: [
    { place: 'E2000017A1B20001', note: 'YSP4.7, own, in date: filled' },
    { place: 'E2000017A1B20008', note: 'inspection overdue: refused' },
    { place: 'E2000017A1B20002', note: 'YSP12: filled' },
    { place: 'E2000017A1B20006', scan: 'E2000017A1B20003', note: "a YSP118 on the scale, a YSP26.2's code card scanned: pocket code" },
    { place: 'E2000017A1B20009', note: 'past its design life: refused' },
  ],
  P2: [
    { place: 'E2000017A1B20011', note: "another unit's cylinder: refused" },
    { place: 'E2000017A1B20012', note: 'DME cylinder at an LPG post: refused' },
    { place: 'E2000017A1B20005', note: 'YSP35.5 with 1.2 kg left: filled to 14.8 kg' },
    { place: 'E2000017A1B20010', note: 'scrapped: refused' },
    { place: 'E2000017A1B20001', note: 'filled minutes ago at P1: refused as a likely pocket code' },
  ],
};

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { keep: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } });
  const stationDoc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  // The fast end of the 10-30 kg/min range (domain.md 4), so the story fits in about a minute.
  for (const p of stationDoc.posts) p.flowKgPerMin = 30;
  const { startSimulator } = await import('../../sim/index.ts');
  // Temporary folders (one holds the demo's signing key) are removed however the demo ends.
  const ptyDir = mkdtempSync(join(tmpdir(), 'fillgate-demo-pty-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'fillgate-demo-'));
  const removeDirs = () => {
    for (const d of [ptyDir, dataDir]) rmSync(d, { recursive: true, force: true });
  };
  process.once('exit', removeDirs);
  const sim = await startSimulator(stationDoc, { portsFromZero: true, ptyDir });
  const loaded = loadConfigFile(join(root, 'examples/gateway.yaml'));
  if (!loaded.ok) throw new Error(`examples/gateway.yaml is invalid: ${JSON.stringify(loaded.errors)}`);
  const config = wireConfigToSim(loaded.config, sim.deviceEndpoints());
  config.dataDir = dataDir;
  const logs = createLogFactory({ level: values.verbose ? 'info' : 'error' });
  const station = new Station(config, { logs });
  await station.start();
  // Fills and refusals by reason on /metrics, as `fillgate start` has them.
  stationMetrics(station);
  importExamples(station);
  const pub = publicKeyPemOf(loadPrivateKey(config.dataDir));
  const receiver = await startReceiver({ port: 0, host: '127.0.0.1', dbPath: join(config.dataDir, 'regulator.db'), stations: { [config.station.code]: pub } });
  const { Uploader } = await import('../sync/uploader.ts');
  const { uploadConfigSchema } = await import('../records/config.ts');
  config.upload = uploadConfigSchema.parse({ url: `${receiver.url}/v1/records`, idleMs: 500 });
  station.uploader = new Uploader({ store: station.store, clock: station.clock, config: config.upload, log: logs('sync') });
  station.uploader.start();

  // The station dashboard, with demo logins (passwords printed: this is a demo, never a real station).
  const users = (['operator', 'supervisor'] as const).map((role) => ({ name: role, role, passwordHash: hashPassword('demo', 1024) }));
  const http = await startStatusServer(station, { ...config.http, host: '127.0.0.1', port: 0, users });
  const shutdown = async () => {
    await http.close();
    await station.stop();
    await receiver.close();
    await sim.close();
  };
  // SIGTERM (systemd, a test harness) ends the demo as cleanly as Ctrl-C: valves closed, folders removed.
  let stopping: Promise<void> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stopping ??= shutdown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const lang = cliLang();
  console.log(t('cli.demo.title', lang, { station: config.station.code, unit: config.station.unit }));
  console.log(t('cli.demo.where', lang, { data: config.dataDir, control: sim.controlUrl, receiver: receiver.url }));
  console.log(t('cli.demo.dashboard', lang, { url: `${http.url}/` }));
  console.log(t(values.keep ? 'cli.demo.dashboardKept' : 'cli.demo.dashboardEnds', lang) + '\n');
  station.events.on((e) => {
    if (e.kind === 'record') console.log(outcomeLine(e.attempt, lang));
    if (e.kind === 'valve' && e.command === 'open' && values.verbose) console.log(`   ${e.post} valve open`);
  });
  const t0 = Date.now();
  await runScenario(station, sim, demoScript, (post, step) => console.log(`   ${post}: ${step.note}`));
  // Give the uploader a moment to deliver the last records, then show what the regulator holds.
  const total = station.store.counts().total;
  for (let i = 0; i < 100 && (await receiver.store.report(config.station.code)).accepted < total; i++) await new Promise((r) => setTimeout(r, 100));
  const rep = await receiver.store.report(config.station.code);
  const check = verifyRecords(station.store.db, pub);
  const verify = t(check.ok ? 'cli.demo.verifyOk' : 'cli.demo.verifyFail', lang);
  console.log('\n' + t('cli.demo.summary', lang, { total, secs: ((Date.now() - t0) / 1000).toFixed(0), verify, accepted: rep.accepted, gaps: rep.gaps.length, late: rep.late }));
  if (values.keep) {
    console.log(t('cli.demo.keep', lang));
    await new Promise<never>(() => undefined); // until SIGINT or SIGTERM, which shut down and exit
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await shutdown();
  return check.ok && rep.accepted === total ? 0 : 1;
}

function importExamples(station: Station): void {
  for (const [what, file] of [['cylinders', 'examples/cylinders.csv'], ['operators', 'examples/operators.csv']] as const) {
    const text = readFileSync(join(root, file), 'utf8');
    const r = what === 'cylinders' ? station.registry.importCylinders(text, 'csv') : station.registry.importOperators(text, 'csv');
    if (!r.applied) throw new Error(`${file} was not imported: ${JSON.stringify(r.issues)}`);
  }
}
