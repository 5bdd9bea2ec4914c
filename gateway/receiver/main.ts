/**
 * Runnable receiver for tests that need a separate process (SIGKILL) and for
 * the lead's `fillgate receiver` command:
 *   node --import tsx gateway/receiver/main.ts --port 0 --db rx.db --station ST01=st01.pub.pem [--late-after-ms N] [--threads N]
 *     [--user NAME:ROLE:HASH]... [--users users.json] [--session-secret S] [--lang zh|en] [--refill-interval-min N]
 * Users log in to the inspector's reports (ROLE inspector|admin, HASH from `fillgate mqtt hash-password`;
 * quote it: it contains `$`).
 * Prints one line `listening <url>` when ready.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../../protocols/errors.ts';
import { parseLang } from '../i18n/index.ts';
import { parseUserOption, readUsersFile } from './auth.ts';
import { startReceiver, type ReceiverOptions } from './server.ts';

type ReportOptions = NonNullable<ReceiverOptions['reports']>;

export function parseReceiverArgs(args: string[]): { port: number; host: string; dbPath: string; stations: Record<string, string>; lateAfterMs?: number; verifyThreads?: number; reports: ReportOptions } {
  const reports: ReportOptions = { users: [] };
  const out = { port: 0, host: '127.0.0.1', dbPath: 'receiver.db', stations: {} as Record<string, string>, lateAfterMs: undefined as number | undefined, verifyThreads: undefined as number | undefined, reports };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--port') out.port = Number(value);
    else if (flag === '--host') out.host = value;
    else if (flag === '--db') out.dbPath = value;
    else if (flag === '--late-after-ms') out.lateAfterMs = Number(value);
    else if (flag === '--threads') out.verifyThreads = Number(value);
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
      out.stations[value.slice(0, eq)] = readFileSync(value.slice(eq + 1), 'utf8');
    } else throw new Error(`unknown option ${flag}`);
  }
  return out;
}

async function main(): Promise<void> {
  const rx = await startReceiver(parseReceiverArgs(process.argv.slice(2)));
  console.log(`listening ${rx.url}`);
  const stop = () => void rx.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`receiver: ${errorMessage(err)}`);
    process.exit(1);
  });
}
