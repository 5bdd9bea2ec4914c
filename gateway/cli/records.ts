import { join } from 'node:path';
import { errorMessage } from '../../protocols/errors.ts';
import { stationIso } from '../station-time.ts';
import { createWriteStream, readFileSync } from 'node:fs';
import { parse, requireConfig, untilSignal, UsageError } from './args.ts';
import { keysInit, stationPublicKeys } from '../records/keys.ts';
import { parseTimeBound, type ExportFormat } from '../records/export.ts';
import { exportChunks, pipeChunks } from '../records/export-stream.ts';
import { openRecordsDb } from '../records/db.ts';
import { formatUtcOffset, resolveUtcOffset } from '../records/config.ts';
import { verifyRecords, formatVerifyReport } from '../records/verify.ts';
import { verifyEvents, formatEventsReport } from '../records/events-verify.ts';
import { syncStatus, formatSyncStatus } from '../sync/status.ts';
import { resendRejected, settleRejected } from '../records/store.ts';
import Database from '../sqlite.ts';

const recordsDb = (dataDir: string) => join(dataDir, 'records.db');

/** `fillgate keys init [--dir <dataDir>] [--config <file>]`: create the station key pair, print the public key. */
export async function keysCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { dir: { type: 'string' }, config: { type: 'string', short: 'c' }, at: { type: 'string' } });
  if (positionals[0] === 'rotate') return keysRotate(values.config, typeof values.at === 'string' ? values.at : undefined);
  if (positionals[0] !== 'init') {
    console.error('usage: fillgate keys init [--dir <dataDir> | --config <file>]\n       fillgate keys rotate --config <file> [--at <ISO 8601>]   (with the gateway stopped)');
    return 2;
  }
  const dir = typeof values.dir === 'string' ? values.dir : values.config ? requireConfig(values.config).dataDir : './data';
  const r = keysInit(dir);
  console.log(`private key: ${r.privateKeyPath} (keep it on this PC, mode 0600)\npublic key for the regulator: ${r.publicKeyPath}\n\n${r.publicKeyPem}`);
  return 0;
}

/**
 * `fillgate keys rotate --config <file>`: a new station key, handed over by the old one to the
 * receiver at upload.url (gateway/records/key-rotation.ts). Refused while a gateway runs on the data dir.
 */
async function keysRotate(configFile: unknown, at: string | undefined): Promise<number> {
  const config = requireConfig(configFile as string | undefined);
  if (!config.upload) {
    console.error('keys rotate needs upload.url in the config: the receiver must accept the new key before the station uses it');
    return 1;
  }
  const atMs = at === undefined ? Date.now() : Date.parse(at);
  if (!Number.isFinite(atMs)) throw new UsageError(`--at wants an ISO 8601 instant, got "${at}"`);
  const { prepareRotation, sendHandover, installRotation, handoverUrlFor, HANDOVER_FILE } = await import('../records/key-rotation.ts');
  const { tryLockDataDir, dataDirBusy } = await import('../records/data-lock.ts');
  // A running gateway signs with the key this replaces: its records after the handover would be refused.
  const lock = tryLockDataDir(config.dataDir, 'keys-rotate');
  if (!lock) {
    console.error(`${dataDirBusy(config.dataDir, 'keys rotate refused')}.\nStop the gateway first, run "fillgate keys rotate" again, then start the gateway.`);
    return 1;
  }
  try {
    const p = prepareRotation(config.dataDir, config.station.code, atMs);
    const url = handoverUrlFor(config.upload.url, config.station.code);
    const sent = await sendHandover(url, p.handover, { allowInsecure: config.upload.allowInsecure, ca: config.upload.caFile ? readFileSync(config.upload.caFile) : undefined, timeoutMs: config.upload.timeoutMs });
    if (!sent.ok) {
      console.error(
        `the receiver did not accept the handover (${sent.status ?? 'no answer'}: ${sent.message}).\n` +
          `Nothing changed yet: the station key is still ${p.oldFp}; the new key ${p.newFp} waits in ${config.dataDir} ` +
          `and the handover in ${join(config.dataDir, HANDOVER_FILE)}. Either start the gateway: it signs with the new key and sends ` +
          `the handover before any upload, once ${url} answers; or run "fillgate keys rotate" again when it answers.`,
      );
      return 1;
    }
    const done = installRotation(config.dataDir);
    console.log(`key ${done.newFp} is now the station key (accepted by ${url}); records of key ${done.oldFp} made after ${p.handover.at} are refused.\nold private key kept as ${done.retiredPath}`);
    return 0;
  } finally {
    lock.release();
  }
}

/** `fillgate records export|verify --config <file> [--from --to --format csv|json --out file]` */
export async function recordsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    config: { type: 'string', short: 'c' },
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string', default: 'csv' },
    out: { type: 'string' },
  });
  const verb = positionals[0];
  const config = requireConfig(values.config);
  if (verb === 'export') {
    const format = values.format as ExportFormat;
    if (format !== 'csv' && format !== 'json') throw new Error('--format is csv or json');
    // A bare date is a day at the station (its one UTC offset), not a UTC day.
    const offset = resolveUtcOffset(config.records);
    const bound = (v: unknown) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00${formatUtcOffset(offset)}` : (v as string | undefined));
    // Streamed: a year of records is never one string in memory, and the read is a short query per window.
    const from = parseTimeBound(bound(values.from), 'from') ?? -8.64e15;
    const to = parseTimeBound(bound(values.to), 'to') ?? 8.64e15;
    const { db } = openRecordsDb(recordsDb(config.dataDir), { readonly: true });
    try {
      const out = typeof values.out === 'string' ? createWriteStream(values.out) : process.stdout;
      await pipeChunks(exportChunks(db, format, { conditions: ['wall_ms >= ?', 'wall_ms < ?'], args: [from, to] }), out);
      if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } finally {
      db.close();
    }
    return 0;
  }
  if (verb === 'verify') {
    // The current key and those retired by `keys rotate`: records signed before a rotation still verify.
    const key = stationPublicKeys(config.dataDir);
    const report = verifyRecords(recordsDb(config.dataDir), key);
    console.log(formatVerifyReport(report));
    // The second chain in the same file: the signed station events (issue 10 point 6).
    const events = verifyEvents(recordsDb(config.dataDir), key);
    console.log(formatEventsReport(events));
    return report.ok && events.ok ? 0 : 1;
  }
  console.error('usage: fillgate records export|verify --config <file> [--from <date> --to <date> --format csv|json --out <file>]');
  return 2;
}

const SYNC_USAGE = [
  'usage: fillgate sync status --config <file> [--json]',
  '       fillgate sync resend --config <file> [--seq <n>]                          rejected records go back to the upload queue',
  '       fillgate sync settle --config <file> --seq <n> --by <supervisor badge> --note <how it was resolved>',
].join('\n');

/**
 * `fillgate sync status|resend|settle --config <file>`. A record the platform rejected counts as
 * not uploaded and holds the timeliness lock (issue 10 point 8) until it is sent again and
 * accepted, or a supervisor settles it with a note.
 */
export async function syncCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, seq: { type: 'string' }, by: { type: 'string' }, note: { type: 'string' },
  });
  const verb = positionals[0];
  if (verb === 'resend' || verb === 'settle') return resolveRejected(verb, values);
  if (verb !== 'status') {
    console.error(SYNC_USAGE);
    return 2;
  }
  const config = requireConfig(values.config);
  const s = syncStatus(recordsDb(config.dataDir), Date.now(), (ms) => stationIso(config, ms));
  console.log(values.json ? JSON.stringify(s, null, 2) : formatSyncStatus(s));
  return 0;
}

function resolveRejected(verb: 'resend' | 'settle', values: Record<string, string | boolean | undefined>): number {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const seqText = str(values.seq);
  const seq = seqText === undefined ? undefined : Number(seqText);
  if ((seqText !== undefined && !Number.isSafeInteger(seq)) || (verb === 'settle' && (seq === undefined || !str(values.by) || !str(values.note)))) {
    console.error(SYNC_USAGE);
    return 2;
  }
  const config = requireConfig(values.config);
  const db = new Database(recordsDb(config.dataDir), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    if (verb === 'resend') {
      const n = resendRejected(db, Date.now(), seq === undefined ? undefined : [seq]);
      console.log(`${n} rejected record(s) queued for upload again`);
      return 0;
    }
    const by = str(values.by)!;
    const reg = new Database(join(config.dataDir, 'station.db'), { readonly: true, fileMustExist: true });
    try {
      const op = openRegistryReadonly(reg, by);
      if (!op?.roles.includes('supervisor')) {
        console.error(`${by} is not a registered supervisor: only a supervisor settles a rejected record`);
        return 1;
      }
    } finally {
      reg.close();
    }
    settleRejected(db, Date.now(), seq!, by, str(values.note)!, config.records.utcOffsetMinutes);
    console.log(`seq ${seq} settled by ${by}`);
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    db.close();
  }
}

/** The operator behind a badge, read without migrating the registry (the gateway owns that). */
function openRegistryReadonly(db: InstanceType<typeof Database>, badge: string): { roles: string[] } | undefined {
  const row = db.prepare('SELECT roles FROM operators WHERE badge = ?').get(badge) as { roles: string } | undefined;
  return row && { roles: row.roles.split(',').filter(Boolean) };
}

/** `fillgate receiver --port 8443 --db receiver.db --station CODE=public.pem ...`: the regulator's receiver. */
export async function receiverCommand(args: string[]): Promise<number> {
  const { parseReceiverArgs, receiverSubcommand } = await import('../receiver/main.ts');
  const { startReceiver } = await import('../receiver/server.ts');
  const sub = await receiverSubcommand(args);
  if (sub !== undefined) return sub;
  let opts;
  try {
    opts = parseReceiverArgs(args);
  } catch (err) {
    throw new UsageError(`${errorMessage(err)}\nvalid options: --port <value>, --host <value>, --db <file|postgres://…>, --station <CODE=file.pem>, --late-after-ms <value>, --threads <value>, --pool <value>, --node-name <value>, --admin-token-file <file>, --retain-months <value>, --help; subcommands: doctor, station add|revoke|handover|keys`);
  }
  const rx = await startReceiver(opts);
  console.log(`listening ${rx.url}`);
  await untilSignal();
  await rx.close();
  return 0;
}
