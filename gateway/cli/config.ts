/**
 * `fillgate config check <file>`: every error and warning with its path, line and hint.
 * `fillgate config schema`: the JSON Schema (for editors and other tools).
 * `fillgate config docs [--write <file.md>]`: the reference table of docs/configuration.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfigFile, formatConfigErrors, configJsonSchema } from '../config/config.ts';
import { renderConfigReference, spliceReference } from '../config/docs.ts';
import { describeWatchdogFit, setpointLimitOf, watchdogFit } from '../config/checks.ts';
import { parse } from './args.ts';

const USAGE = 'usage: fillgate config check <file> [--strict] | config schema | config docs [--write docs/configuration.md]';

export async function configCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === 'check') return check(rest);
  if (verb === 'schema') {
    console.log(JSON.stringify(configJsonSchema(), null, 2));
    return 0;
  }
  if (verb === 'docs') return docs(rest);
  console.error(USAGE);
  return 2;
}

/** Exit 0 when valid (warnings printed), 1 with every error listed, 1 on warnings with --strict. */
function check(args: string[]): number {
  const { values, positionals } = parse(args, { strict: { type: 'boolean' } });
  const strict = values.strict === true;
  const file = positionals[0];
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  const result = loadConfigFile(file);
  if (!result.ok) console.error(formatConfigErrors(file, result.errors));
  if (result.warnings.length) console.error(formatConfigErrors(file, result.warnings, 'warning: '));
  if (!result.ok) {
    console.error(`${result.errors.length} error(s), ${result.warnings.length} warning(s) in ${file}`);
    return 1;
  }
  const c = result.config;
  const warned = result.warnings.length ? `, ${result.warnings.length} warning(s)` : '';
  console.log(`${file}: ok — station ${c.station.code}, ${c.posts.length} post(s), ${Object.keys(c.buses).length} bus(es)${c.checkScale ? ', check-weigh scale' : ''}${warned}`);
  // Issue 9 point 7: say per post whether the scale's own setpoint is the second, independent limit.
  for (const p of c.posts) {
    const s = setpointLimitOf(p.scale);
    console.log(`  ${p.id}: setpoint limit ${s.on ? 'on' : 'off'} (${s.reason})`);
    // Issue 13 point 3: what the relay's own watchdog lets through if the gateway dies mid-fill.
    console.log(`  ${p.id}: ${describeWatchdogFit(watchdogFit(p.valve, p.fill?.maxFlowKgPerMin ?? c.fill.maxFlowKgPerMin))}`);
  }
  return strict && result.warnings.length ? 1 : 0;
}

function docs(args: string[]): number {
  const { values } = parse(args, { write: { type: 'string' } });
  const table = renderConfigReference(configJsonSchema());
  const file = values.write;
  if (typeof file !== 'string') {
    console.log(table);
    return 0;
  }
  writeFileSync(file, spliceReference(readFileSync(file, 'utf8'), table));
  console.log(`${file}: reference table regenerated`);
  return 0;
}
