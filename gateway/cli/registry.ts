import { readFileSync, mkdirSync } from 'node:fs';
import { join, extname } from 'node:path';
import Database from '../sqlite.ts';
import { parse, requireConfig } from './args.ts';
import { openRegistry } from '../registry/registry.ts';
import { formatIssue } from '../registry/import.ts';
import { cliLang, t } from '../i18n/index.ts';

/** `fillgate registry import --config <file> cylinders|operators <file.csv|json> [--valid-rows] [--dry-run]` */
export async function registryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' }, 'valid-rows': { type: 'boolean' }, 'dry-run': { type: 'boolean' } });
  const [verb, what, file] = positionals;
  if (verb !== 'import' || (what !== 'cylinders' && what !== 'operators') || !file) {
    console.error('usage: fillgate registry import --config <file> cylinders|operators <file.csv|json> [--valid-rows] [--dry-run]');
    return 2;
  }
  const config = requireConfig(values.config);
  mkdirSync(config.dataDir, { recursive: true });
  const db = new Database(join(config.dataDir, 'station.db'));
  try {
    const registry = openRegistry(db);
    const format = extname(file).toLowerCase() === '.json' ? 'json' : 'csv';
    const opts = { mode: values['valid-rows'] ? ('valid-rows' as const) : ('all-or-nothing' as const), dryRun: values['dry-run'] === true, source: `cli:${file}` };
    const text = readFileSync(file, 'utf8');
    const report = what === 'cylinders' ? registry.importCylinders(text, format, opts) : registry.importOperators(text, format, opts);
    for (const issue of report.issues) console.log(formatIssue(issue));
    const c = report;
    const lang = cliLang();
    const result = report.applied ? t('cli.registry.applied', lang, { created: c.created, updated: c.updated, unchanged: c.unchanged }) : t('cli.registry.nothing', lang);
    console.log(t('cli.registry.summary', lang, { file, total: c.total, valid: c.valid, rejected: c.rejected, result }));
    return report.applied ? 0 : 1;
  } finally {
    db.close();
  }
}
