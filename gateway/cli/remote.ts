/**
 * `fillgate remote keygen --out <dir> [--id <keyId>]`: an Ed25519 key pair for signing commands
 *   (the private key stays with the regulator or company; the public one goes into the station's
 *   remote.trustedKeys).
 * `fillgate remote sign --key <private.pem> --key-id <id> --station <code> --seq <n> --command
 *   lock|unlock|quarantine|release|status [--code <cylinder>] [--reason <text>] [--transaction <id>]
 *   [--issued-at <ISO 8601>]`: prints the signed command (one JSON line) to publish on
 *   fillgate/<station>/gateway/cmd, e.g. `| mosquitto_pub -t fillgate/ST01/gateway/cmd -q 1 -s`.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from './args.ts';
import { remoteCommands, signCommand, type RemoteCommandName, type UnsignedCommand } from '../remote/command.ts';

const USAGE = `usage: fillgate remote keygen --out <dir> [--id <keyId>]
       fillgate remote sign --key <private.pem> --key-id <id> --station <code> --seq <n> --command ${remoteCommands.join('|')} [--code <cylinder>] [--reason <text>] [--transaction <id>] [--issued-at <ISO 8601>]`;

export function buildSignedCommand(values: Record<string, string | boolean | undefined>, now = Date.now()): string {
  const need = (k: string) => {
    const v = values[k];
    if (typeof v !== 'string' || v.length === 0) throw new Error(`--${k} is required\n${USAGE}`);
    return v;
  };
  const command = need('command') as RemoteCommandName;
  if (!remoteCommands.includes(command)) throw new Error(`--command must be one of ${remoteCommands.join(', ')}`);
  const seq = Number(need('seq'));
  if (!Number.isSafeInteger(seq) || seq < 1) throw new Error('--seq must be a positive integer, higher than any this key used before');
  if ((command === 'quarantine' || command === 'release') && typeof values.code !== 'string') throw new Error(`--code <cylinder> is required for ${command}`);
  const data = { ...(typeof values.code === 'string' ? { code: values.code } : {}), ...(typeof values.reason === 'string' ? { reason: values.reason } : {}) };
  const body: UnsignedCommand = {
    v: 1,
    station: need('station'),
    keyId: need('key-id'),
    seq,
    issuedAt: typeof values['issued-at'] === 'string' ? values['issued-at'] : new Date(now).toISOString(),
    transaction: typeof values.transaction === 'string' ? values.transaction : randomUUID(),
    command,
    ...(Object.keys(data).length > 0 ? { data } : {}),
  };
  return JSON.stringify(signCommand(body, readFileSync(need('key'), 'utf8')));
}

export async function remoteCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    key: { type: 'string' },
    'key-id': { type: 'string' },
    station: { type: 'string' },
    seq: { type: 'string' },
    command: { type: 'string' },
    code: { type: 'string' },
    reason: { type: 'string' },
    transaction: { type: 'string' },
    'issued-at': { type: 'string' },
    out: { type: 'string' },
    id: { type: 'string' },
  });
  if (positionals[0] === 'sign') {
    console.log(buildSignedCommand(values));
    return 0;
  }
  if (positionals[0] === 'keygen') {
    const dir = typeof values.out === 'string' ? values.out : '.';
    const id = typeof values.id === 'string' ? values.id : 'remote';
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const priv = join(dir, `${id}.key.pem`);
    const pub = join(dir, `${id}.pub.pem`);
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, flag: 'wx' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    writeFileSync(pub, pem, { mode: 0o644 });
    console.log(`private key (keep it off the station): ${priv}\npublic key for remote.trustedKeys (id ${id}): ${pub}\n\n${pem}`);
    return 0;
  }
  console.error(USAGE);
  return 2;
}
