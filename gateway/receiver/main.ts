/**
 * Runnable receiver for tests that need a separate process (SIGKILL) and for
 * the lead's `fillgate receiver` command:
 *   node --import tsx gateway/receiver/main.ts --port 0 --db rx.db --station ST01=st01.pub.pem [--late-after-ms N] [--threads N]
 * Prints one line `listening <url>` when ready.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../../protocols/errors.ts';
import { startReceiver } from './server.ts';

export function parseReceiverArgs(args: string[]): { port: number; host: string; dbPath: string; stations: Record<string, string>; lateAfterMs?: number; verifyThreads?: number } {
  const out = { port: 0, host: '127.0.0.1', dbPath: 'receiver.db', stations: {} as Record<string, string>, lateAfterMs: undefined as number | undefined, verifyThreads: undefined as number | undefined };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--port') out.port = Number(value);
    else if (flag === '--host') out.host = value;
    else if (flag === '--db') out.dbPath = value;
    else if (flag === '--late-after-ms') out.lateAfterMs = Number(value);
    else if (flag === '--threads') out.verifyThreads = Number(value);
    else if (flag === '--station') {
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
