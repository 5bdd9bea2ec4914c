import { loadConfigFile, formatConfigErrors } from '../config/config.ts';

/** `fillgate config check <file>`: exit 0 when valid, 1 with every error listed otherwise. */
export async function configCommand(args: string[]): Promise<number> {
  const [verb, file] = args;
  if (verb !== 'check' || !file) {
    console.error('usage: fillgate config check <file>');
    return 2;
  }
  const result = loadConfigFile(file);
  if (!result.ok) {
    console.error(formatConfigErrors(file, result.errors));
    console.error(`${result.errors.length} error(s) in ${file}`);
    return 1;
  }
  const c = result.config;
  console.log(`${file}: ok — station ${c.station.code}, ${c.posts.length} post(s), ${Object.keys(c.buses).length} bus(es)${c.checkScale ? ', check-weigh scale' : ''}`);
  return 0;
}
