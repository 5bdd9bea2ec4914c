/**
 * Diagnostics for integrators (fillgate issue 6, point 3):
 *
 *   fillgate doctor --config <file> [--json] [--timeout ms] [--reads n] [--listen ms] [--only text] [--device id]
 *     <file> is a station config, or a one-device config (`scale:` and its `buses:`, diag/one-device.ts)
 *   fillgate modbus scan <bus-url> [--from 1 --to 247 --timeout 100 --register 0 --function 3 --count 1] [--json]
 *   fillgate serial sniff <link-url> [--format raw|xk3190-a9|toledo|ascii|lines|modbus-rtu|modbus-tcp]
 *                         [--send hex [--crc] [--every ms]] [--side response|request] [--duration ms] [--json]
 *
 * Exit codes: 0 all good (doctor: every device ok; scan: at least one unit
 * answers), 1 not (scan: also when the bus cannot be opened), 2 bad usage or config.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from '../sqlite.ts';
import { parseArgs } from 'node:util';
import { errorMessage, isFillgateError } from '../../protocols/errors.ts';
import { createLink } from '../../protocols/link/create.ts';
import { withCrc } from '../../protocols/modbus/frames.ts';
import { formatConfigErrors, loadConfigFile } from '../config/config.ts';
import { doctorDeviceIds, runDoctor, type DoctorConfig } from '../diag/doctor.ts';
import { isOneDeviceConfig, parseOneDeviceConfig } from '../diag/one-device.ts';
import { formatDoctorReport, formatScanResult, formatScanSummary, formatSniffLine } from '../diag/format.ts';
import { scanBus, type ScanFunction } from '../diag/scan.ts';
import { SNIFF_FORMATS, sniffLink, type SniffFormat, type SniffLine } from '../diag/sniff.ts';

const DOCTOR_USAGE =
  'usage: fillgate doctor --config <file> [--json] [--timeout ms] [--reads n] [--listen ms] [--only text] [--device id]\n' +
  '  --device P1.scale   check that one device only; <file> may also be a one-device config: scale: {…} and its buses: {…}';
const MODBUS_USAGE = 'usage: fillgate modbus scan <modbus-url> [--from 1] [--to 247] [--timeout 100] [--register 0] [--function 3] [--count 1] [--json]';
const SERIAL_USAGE =
  `usage: fillgate serial sniff <serial://…|tcp://…> [--format ${SNIFF_FORMATS.join('|')}] ` +
  '[--send "01 03 00 04 00 06" [--crc] [--every ms]] [--side response|request] [--duration ms] [--json]';

type Parsed = ReturnType<typeof parseArgs>;

/** parseArgs that reports a usage error instead of throwing. */
function parse(args: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'], usage: string): Parsed | undefined {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const names = Object.entries(options ?? {}).map(([n, o]) => `--${n}${o.type === 'string' ? ' <value>' : ''}`);
    console.error(`${errorMessage(err).split('. To specify a positional')[0]}\nvalid options: ${[...names, '--help'].join(', ')}\n${usage}`);
    return undefined;
  }
}

/** A number option, or undefined; throws a usage message for junk. */
function num(values: Parsed['values'], name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${String(v)}"`);
  return n;
}

/** A station config, or a one-device config (a top-level `scale:` without `posts:`). */
function loadDoctorConfig(file: string): { ok: true; config: DoctorConfig; dataDir?: string } | { ok: false; message: string } {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = undefined; // loadConfigFile reports the missing file as the station config path does
  }
  if (text !== undefined && isOneDeviceConfig(text)) {
    const one = parseOneDeviceConfig(text);
    return one.ok ? { ok: true, config: one.config } : { ok: false, message: `${file}: one-device config:\n  ${one.errors.join('\n  ')}` };
  }
  const loaded = loadConfigFile(file);
  return loaded.ok ? { ok: true, config: loaded.config, dataDir: loaded.config.dataDir } : { ok: false, message: formatConfigErrors(file, loaded.errors) };
}

/**
 * The weights the registry makes likely on a filling scale, read-only from the station
 * database when there is one: lightest registered tare .. heaviest tare + allowed fill.
 * The doctor uses them to tell a right word order from a swapped one (issue 12 point 12).
 */
export function registeredWeights(dataDir: string): { minKg: number; maxKg: number } | undefined {
  const file = join(dataDir, 'station.db');
  if (!existsSync(file)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare('SELECT min(tare_kg) AS lo, max(tare_kg + coalesce(allowed_fill_kg, 0)) AS hi FROM cylinders WHERE tare_kg IS NOT NULL').get() as { lo: number | null; hi: number | null } | undefined;
    return row && row.lo !== null && row.hi !== null ? { minKg: row.lo, maxKg: row.hi } : undefined;
  } catch {
    return undefined; // no registry yet: the doctor judges without it
  } finally {
    db?.close();
  }
}

export async function doctorCommand(args: string[]): Promise<number> {
  const p = parse(
    args,
    { config: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' }, reads: { type: 'string' }, listen: { type: 'string' }, only: { type: 'string' }, device: { type: 'string' } },
    DOCTOR_USAGE,
  );
  if (!p) return 2;
  const file = p.values.config as string | undefined;
  if (!file) {
    console.error(DOCTOR_USAGE);
    return 2;
  }
  let opts;
  try {
    opts = {
      timeoutMs: num(p.values, 'timeout'),
      reads: num(p.values, 'reads'),
      listenMs: num(p.values, 'listen'),
      only: p.values.only as string | undefined,
      device: p.values.device as string | undefined,
    };
  } catch (err) {
    console.error(`${errorMessage(err)}\n${DOCTOR_USAGE}`);
    return 2;
  }
  const loaded = loadDoctorConfig(file);
  if (!loaded.ok) {
    console.error(loaded.message);
    return 2;
  }
  if (opts.device !== undefined) {
    const ids = doctorDeviceIds(loaded.config);
    if (!ids.includes(opts.device)) {
      console.error(`no device "${opts.device}" in ${file}; its devices: ${ids.join(', ')}`);
      return 2;
    }
  }
  if (!p.values.json) console.error(`fillgate doctor: probing the devices in ${file} (read-only) …`);
  const likelyKg = loaded.dataDir !== undefined ? registeredWeights(loaded.dataDir) : undefined;
  const report = await runDoctor(loaded.config, likelyKg ? { ...opts, likelyKg } : opts);
  console.log(p.values.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}

export async function modbusCommand(args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      timeout: { type: 'string' },
      register: { type: 'string' },
      function: { type: 'string' },
      count: { type: 'string' },
      json: { type: 'boolean' },
    },
    MODBUS_USAGE,
  );
  if (!p) return 2;
  const [verb, url] = p.positionals;
  if (verb !== 'scan' || !url) {
    console.error(MODBUS_USAGE);
    return 2;
  }
  const json = p.values.json === true;
  try {
    const fc = num(p.values, 'function');
    const results = await scanBus(url, {
      from: num(p.values, 'from'),
      to: num(p.values, 'to'),
      timeoutMs: num(p.values, 'timeout'),
      register: num(p.values, 'register'),
      count: num(p.values, 'count'),
      function: fc as ScanFunction | undefined,
      onResult: (r) => {
        if (!json && (r.answers || r.kind === 'garbled')) console.log(formatScanResult(r));
      },
    });
    console.log(json ? JSON.stringify(results.filter((r) => r.kind !== 'silent' && r.kind !== 'no-target'), null, 2) : formatScanSummary(url, results));
    return results.some((r) => r.answers) ? 0 : 1;
  } catch (err) {
    console.error(`fillgate modbus scan: ${errorMessage(err)}`);
    // A mistake in the command line is usage (2); a bus that cannot be opened is a finding (1).
    return isFillgateError(err, 'BAD_URL') || isFillgateError(err, 'BAD_PAYLOAD') || !isFillgateError(err) ? 2 : 1;
  }
}

/** "01 03 00 04 00 06", "0103000400 06" or "01:03:…" → bytes. */
export function parseHex(text: string): Buffer {
  const clean = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) throw new Error(`--send "${text}" is not hex bytes (e.g. "01 03 00 04 00 06")`);
  return Buffer.from(clean, 'hex');
}

export async function serialCommand(args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      format: { type: 'string' },
      send: { type: 'string' },
      crc: { type: 'boolean' },
      every: { type: 'string' },
      side: { type: 'string' },
      duration: { type: 'string' },
      json: { type: 'boolean' },
    },
    SERIAL_USAGE,
  );
  if (!p) return 2;
  const [verb, url] = p.positionals;
  const format = (p.values.format ?? 'raw') as SniffFormat;
  const side = (p.values.side ?? 'response') as 'response' | 'request';
  if (verb !== 'sniff' || !url || !SNIFF_FORMATS.includes(format) || !['response', 'request'].includes(side)) {
    console.error(SERIAL_USAGE);
    return 2;
  }
  let poll: Buffer | undefined;
  let everyMs: number | undefined;
  let durationMs: number | undefined;
  let sniffer;
  try {
    if (p.values.send !== undefined) poll = parseHex(p.values.send as string);
    if (poll && p.values.crc) poll = withCrc(poll);
    everyMs = num(p.values, 'every');
    durationMs = num(p.values, 'duration');
    sniffer = sniffLink(createLink(url), { format, side });
  } catch (err) {
    console.error(`fillgate serial sniff: ${errorMessage(err)}\n${SERIAL_USAGE}`);
    return 2;
  }
  const print = (l: SniffLine) => console.log(p.values.json ? JSON.stringify({ ...l, bytes: l.bytes.toString('hex') }) : formatSniffLine(l));
  sniffer.lines.on(print);
  try {
    await sniffer.start();
  } catch (err) {
    console.error(`fillgate serial sniff: ${errorMessage(err)} (still retrying; Ctrl-C to stop)`);
  }
  const sendPoll = () => {
    if (poll) sniffer.send(poll).catch((err: unknown) => console.error(`send failed: ${errorMessage(err)}`));
  };
  sendPoll();
  const timer = poll && everyMs && everyMs > 0 ? setInterval(sendPoll, everyMs) : undefined;
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    if (durationMs !== undefined) setTimeout(done, durationMs).unref();
  });
  clearInterval(timer);
  await sniffer.stop();
  return 0;
}
