import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join, extname } from 'node:path';
import Database from '../sqlite.ts';
import { parse, requireConfig } from './args.ts';
import { openRegistry } from '../registry/registry.ts';
import { formatIssue } from '../registry/import.ts';
import { importChunked } from '../registry/import-chunked.ts';
import { cliLang, t } from '../i18n/index.ts';

const USAGE = [
  'usage: fillgate registry import --config <file> cylinders|operators <file.csv|json> [--valid-rows] [--dry-run]',
  '       fillgate registry purge --config <file> <cylinder code> --by <supervisor badge> [--vacuum] [--note <text>]',
  '       fillgate registry decant --config <file> <cylinder code> --removed-kg <kg> --by <supervisor badge> [--at <ISO 8601>] [--note <text>]',
  '       fillgate registry holds --config <file>',
].join('\n');

/**
 * `fillgate registry import …`; `registry purge …`: a supervisor records the purge or vacuum of a cylinder
 * (TSG 23: before the first fill and after inspection), clearing PURGE_REQUIRED; `registry decant`: a
 * supervisor records the decant of an overfilled cylinder held since its fill (issue 10 point 3), which
 * releases it; `registry holds` lists the held ones.
 */
export async function registryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    config: { type: 'string', short: 'c' }, 'valid-rows': { type: 'boolean' }, 'dry-run': { type: 'boolean' },
    by: { type: 'string' }, vacuum: { type: 'boolean' }, note: { type: 'string' }, 'removed-kg': { type: 'string' }, at: { type: 'string' },
  });
  const [verb, what, file] = positionals;
  if (verb === 'decant' || verb === 'holds') return decantCommand(verb, what, values);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const by = str(values.by);
  if (verb === 'purge' && what && by) return purge(str(values.config), what, by, values.vacuum === true, str(values.note));
  if (verb !== 'import' || (what !== 'cylinders' && what !== 'operators') || !file) {
    console.error(USAGE);
    return 2;
  }
  const config = requireConfig(values.config);
  mkdirSync(config.dataDir, { recursive: true });
  const filling = fillsInProgress(join(config.dataDir, 'records.db'));
  if (filling.length) {
    console.error(t('cli.registry.filling', cliLang(), { posts: filling.join(', ') }));
    return 1;
  }
  const db = new Database(join(config.dataDir, 'station.db'));
  try {
    const registry = openRegistry(db);
    const format = extname(file).toLowerCase() === '.json' ? 'json' : 'csv';
    const opts = { mode: values['valid-rows'] ? ('valid-rows' as const) : ('all-or-nothing' as const), dryRun: values['dry-run'] === true, source: `cli:${file}` };
    const text = readFileSync(file, 'utf8');
    // Short transactions with pauses: a running gateway writes to the same file and must never wait long for the lock.
    const report = await importChunked(registry, what, text, format, opts);
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

/**
 * Posts with a fill in progress, from the record store's journal (a running
 * gateway keeps it; the CLI is another process and cannot see the posts).
 * The same refusal as the dashboard's: no import while a post is filling.
 */
function fillsInProgress(recordsPath: string): string[] {
  if (!existsSync(recordsPath)) return [];
  const db = new Database(recordsPath, { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records_in_progress'").get();
    return has ? (db.prepare('SELECT post FROM records_in_progress ORDER BY post').all() as { post: string }[]).map((r) => r.post) : [];
  } finally {
    db.close();
  }
}

function purge(configFile: string | undefined, code: string, by: string, vacuum: boolean, note: string | undefined): number {
  const config = requireConfig(configFile);
  const db = new Database(join(config.dataDir, 'station.db'));
  try {
    const c = openRegistry(db).recordPurge(code, by, vacuum ? 'vacuum' : 'purge', note ?? null);
    console.log(`${c.code}: ${vacuum ? 'vacuum' : 'purge'} recorded by ${by}; purge required: ${c.purgeRequired}`);
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    db.close();
  }
}

function decantCommand(verb: 'decant' | 'holds', code: string | undefined, values: Record<string, string | boolean | undefined>): number {
  const removedKg = Number(values['removed-kg']);
  const by = typeof values.by === 'string' ? values.by : '';
  if (verb === 'decant' && (!code || !Number.isFinite(removedKg) || !by)) {
    console.error(USAGE);
    return 2;
  }
  const config = requireConfig(values.config);
  const db = new Database(join(config.dataDir, 'station.db'));
  try {
    const registry = openRegistry(db);
    if (verb === 'holds') {
      const held = registry.decants(undefined, 1000).filter((d) => !d.decantedAt);
      for (const d of held) console.log(`${d.code}  held since ${d.heldAt}${d.overKg !== undefined ? `  ${d.overKg} kg over` : ''}${d.attemptId ? `  attempt ${d.attemptId}` : ''}`);
      console.log(`${held.length} cylinder(s) held for a decant`);
      return 0;
    }
    const d = registry.recordDecant(code!, {
      removedKg, by, source: 'cli',
      ...(typeof values.at === 'string' ? { at: values.at } : {}),
      ...(typeof values.note === 'string' ? { note: values.note } : {}),
    });
    console.log(`${d.code}: decant of ${d.removedKg} kg by ${d.decantedBy} at ${d.decantedAt} recorded; the cylinder is released`);
    return 0;
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  } finally {
    db.close();
  }
}
