/** Small argument helpers shared by the commands (node:util parseArgs underneath). */
import { parseArgs } from 'node:util';
import { loadConfigFile, formatConfigErrors, type GatewayConfig } from '../config/config.ts';

export type Flags = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

export function parse(args: string[], options: Flags): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const r = parseArgs({ args, options, allowPositionals: true, strict: true });
  return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
}

/** Loads --config or fails with every error listed (exit code 2 by the caller). */
export function requireConfig(file: string | boolean | undefined): GatewayConfig {
  if (typeof file !== 'string') throw new Error('--config <file> is required');
  const r = loadConfigFile(file);
  if (!r.ok) throw new Error(`invalid config\n${formatConfigErrors(file, r.errors)}`);
  return r.config;
}

/** Resolves when SIGINT or SIGTERM arrives. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => resolve(sig);
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}
