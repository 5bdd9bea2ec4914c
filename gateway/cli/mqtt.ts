import { hashPassword } from '../mqtt/password.ts';
import { parse, UsageError } from './args.ts';

/**
 * `fillgate mqtt hash-password`: reads the password from stdin and prints the hash to put in
 * the config (mqtt device passwords, http.users). Never from the command line: arguments end
 * up in the shell history and in `ps` for every user of the PC.
 */
export async function mqttCommand(args: string[], input: NodeJS.ReadStream = process.stdin): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals[0] !== 'hash-password') throw new UsageError(`unknown subcommand "${positionals[0] ?? ''}"`);
  if (positionals.length > 1) throw new UsageError('the password is read from stdin, not taken from the command line (it would stay in the shell history and in ps)');
  const pw = input.isTTY ? await promptHidden(input, 'password: ') : await readAll(input);
  if (!pw) {
    console.error('fillgate mqtt hash-password: empty password');
    return 1;
  }
  console.log(hashPassword(pw));
  return 0;
}

/** Everything piped in, without the one line end `echo` adds. */
async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** One line typed at the terminal without echo. */
function promptHidden(input: NodeJS.ReadStream, prompt: string): Promise<string> {
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let text = '';
    input.setRawMode(true);
    input.resume();
    const done = (value: string) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(text);
        if (ch === '\u0003') return done('');
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.on('data', onData);
  });
}
