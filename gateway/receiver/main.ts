/**
 * Runnable receiver for tests that need a separate process (SIGKILL) and for
 * `fillgate receiver`:
 *   node --import tsx gateway/receiver/main.ts --port 0 --db rx.db|postgres://… --station ST01=st01.pub.pem
 *        [--late-after-ms N] [--threads N] [--pool N] [--node-name N] [--admin-token-file F] [--retain-months N]
 *        [--user NAME:ROLE:HASH]... [--users users.json] [--session-secret S] [--lang zh|en] [--refill-interval-min N]
 * Users log in to the inspector's reports (ROLE inspector|admin, HASH from `fillgate mqtt hash-password`;
 * quote it: it contains `$`).
 * Prints one line `listening <url>` when ready. Subcommands (also `fillgate receiver …`):
 *   doctor --db URL [--json]                         schema, connections, lag, partitions; exit 1 on a problem
 *   station add CODE public.pem --db URL             register (or re-key) a station
 *   station revoke CODE --after ISO [--fp F] --db URL  refuse the key's records made after ISO
 *   station handover handover.json --db URL          rotate by a handover record the old key signed
 *   station keys CODE --db URL                       list a station's keys
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../../protocols/errors.ts';
import { parseLang } from '../i18n/index.ts';
import { parseUserOption, readUsersFile } from './auth.ts';
import { startReceiver, type ReceiverOptions } from './server.ts';
import { openReceiverStore, type DoctorReport } from './store.ts';

export function parseReceiverArgs(args: string[]): ReceiverOptions & { port: number; host: string; reports: NonNullable<ReceiverOptions['reports']> } {
  const reports: NonNullable<ReceiverOptions['reports']> = { users: [] };
  const out: ReturnType<typeof parseReceiverArgs> = { port: 0, host: '127.0.0.1', dbPath: 'receiver.db', stations: {}, reports };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--port') out.port = Number(value);
    else if (flag === '--host') out.host = value;
    else if (flag === '--db') out.dbPath = value;
    else if (flag === '--late-after-ms') out.lateAfterMs = Number(value);
    else if (flag === '--threads') out.verifyThreads = Number(value);
    else if (flag === '--pool') out.poolSize = Number(value);
    else if (flag === '--node-name') out.nodeName = value;
    else if (flag === '--retain-months') out.retainMonths = Number(value);
    else if (flag === '--admin-token-file') out.adminToken = readFileSync(value, 'utf8').trim();
    else if (flag === '--user') reports.users!.push(parseUserOption(value));
    else if (flag === '--users') reports.users!.push(...readUsersFile(value));
    else if (flag === '--session-secret') {
      if (value.length < 32) throw new Error('--session-secret needs at least 32 characters');
      reports.sessionSecret = value;
    } else if (flag === '--lang') {
      const lang = parseLang(value);
      if (!lang) throw new Error(`--lang wants zh or en, got "${value}"`);
      reports.lang = lang;
    } else if (flag === '--refill-interval-min') {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--refill-interval-min wants minutes ≥ 0, got "${value}"`);
      reports.refillIntervalMs = n * 60_000;
    } else if (flag === '--station') {
      const eq = value.indexOf('=');
      if (eq < 1) throw new Error(`--station wants CODE=public-key.pem, got "${value}"`);
      out.stations![value.slice(0, eq)] = readFileSync(value.slice(eq + 1), 'utf8');
    } else throw new Error(`unknown option ${flag}`);
  }
  return out;
}

/** Split `--db URL` (and `--json`, `--after`, `--fp`) from positional words. */
function subArgs(args: string[]): { words: string[]; db: string; json: boolean; after?: string; fp?: string } {
  const out = { words: [] as string[], db: process.env.FILLGATE_RECEIVER_DB ?? 'receiver.db', json: false, after: undefined as string | undefined, fp: undefined as string | undefined };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--db') out.db = args[++i];
    else if (args[i] === '--json') out.json = true;
    else if (args[i] === '--after') out.after = args[++i];
    else if (args[i] === '--fp') out.fp = args[++i];
    else out.words.push(args[i]);
  }
  return out;
}

export function formatDoctor(d: DoctorReport): string {
  const lines = [
    `store        ${d.store} (${d.server ?? '?'})`,
    `schema       version ${d.schemaVersion} (code ${d.codeSchemaVersion})`,
    ...(d.connections ? [`connections  ${d.connections.total} of ${d.connections.max} (${d.connections.receivers} receiver)`] : []),
    ...(d.replicationLagS && Object.keys(d.replicationLagS).length ? [`standbys     ${Object.entries(d.replicationLagS).map(([n, s]) => `${n} ${s.toFixed(1)} s behind`).join(', ')}`] : []),
    `stations     ${d.stations}, records ~${d.records}`,
    `lag          oldest last upload ${d.lastReceivedAgeS === undefined ? 'none yet' : `${d.lastReceivedAgeS} s ago`}; silent > 1 day: ${d.silentStations.length ? d.silentStations.join(', ') : 'none'}`,
    ...(d.partitions ? [`partitions   ${d.partitions.months} months (${d.partitions.first} … ${d.partitions.last}), ${d.partitions.defaultRows} rows in the default partition`] : []),
    d.problems.length ? `PROBLEMS\n${d.problems.map((p) => `  - ${p}`).join('\n')}` : 'ok',
  ];
  return lines.join('\n');
}

/** `fillgate receiver doctor|station …`; undefined when `args` is not a subcommand (then: run the server). */
export async function receiverSubcommand(args: string[]): Promise<number | undefined> {
  if (args[0] !== 'doctor' && args[0] !== 'station') return undefined;
  const a = subArgs(args.slice(1));
  if (args[0] === 'doctor') {
    let store;
    try {
      store = await openReceiverStore({ dbPath: a.db, verifyThreads: 0 });
    } catch (err) {
      console.error(`cannot open ${a.db.replace(/:[^:@/]*@/, ':***@')}: ${errorMessage(err)}`);
      return 1;
    }
    try {
      const d = await store.doctor();
      console.log(a.json ? JSON.stringify(d, null, 2) : formatDoctor(d));
      return d.problems.length ? 1 : 0;
    } finally {
      await store.close();
    }
  }
  const [verb, x] = a.words;
  const store = await openReceiverStore({ dbPath: a.db, verifyThreads: 0 });
  try {
    if (verb === 'add' && x && a.words[2]) await store.registerStation(x, readFileSync(a.words[2], 'utf8'), 'register');
    else if (verb === 'revoke' && x && a.after) await store.revokeKey(x, Date.parse(a.after), a.fp);
    else if (verb === 'handover' && x) await store.handover(JSON.parse(readFileSync(x, 'utf8')));
    else if (verb !== 'keys' || !x) throw new Error('usage: station add CODE key.pem | revoke CODE --after ISO [--fp F] | handover file.json | keys CODE (with --db URL)');
    const code = verb === 'handover' ? (JSON.parse(readFileSync(x, 'utf8')) as { station: string }).station : x;
    for (const k of await store.stationKeys(code)) console.log(`${k.station} ${k.fp} ${k.via} added ${new Date(k.addedMs).toISOString()}${k.revokedAfterMs === undefined ? '' : ` revoked after ${new Date(k.revokedAfterMs).toISOString()}`}`);
    return 0;
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const sub = await receiverSubcommand(process.argv.slice(2));
  if (sub !== undefined) process.exit(sub);
  const rx = await startReceiver(parseReceiverArgs(process.argv.slice(2)));
  console.log(`listening ${rx.url}`);
  const stop = () => {
    rx.drain();
    void rx.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`receiver: ${errorMessage(err)}`);
    process.exit(1);
  });
}
