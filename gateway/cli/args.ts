/** Small argument helpers shared by the commands (node:util parseArgs underneath). */
import { parseArgs } from 'node:util';
import { loadConfigFile, formatConfigErrors, type GatewayConfig } from '../config/config.ts';

export type Flags = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

/** A mistake on the command line: main.ts prints it with the command's help and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--config <file>, -c` style list of the options a command takes, for error messages. */
export function describeOptions(options: Flags): string {
  return Object.entries(options)
    .map(([name, o]) => `--${name}${o.type === 'string' ? ' <value>' : ''}${o.short ? ` (-${o.short})` : ''}`)
    .join(', ');
}

/**
 * parseArgs, strict. An unknown option, a missing value or a value given to a switch
 * becomes a UsageError that names the valid options (issue 12 point 6).
 */
export function parse(args: string[], options: Flags): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('. To specify a positional')[0] : String(err);
    throw new UsageError(`${message}\nvalid options: ${describeOptions(options)}, --help`);
  }
}

/** Loads --config or fails with every error listed (exit code 2 by the caller). */
export function requireConfig(file: string | boolean | undefined): GatewayConfig {
  if (typeof file !== 'string') throw new UsageError('--config <file> is required');
  const r = loadConfigFile(file);
  if (!r.ok) throw new Error(`invalid config\n${formatConfigErrors(file, r.errors)}`);
  return r.config;
}

/** Resolves when SIGINT or SIGTERM arrives (the listeners are removed again). */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => {
        for (const [s, f] of handlers) process.off(s, f);
        resolve(sig);
      };
      handlers.set(sig, h);
      process.once(sig, h);
    }
  });
}
