/**
 * The receiver suite (suite.ts) on both stores: SQLite (the embedded default) and a real
 * PostgreSQL 15 started for this file (test/fixtures/postgres.ts). Without Debian's
 * postgresql package the PostgreSQL half is skipped visibly (a failure under CI=true).
 */
import { suite } from 'uvu';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';
import { receiverSuite, tempDir } from './suite.ts';

const sqlite = suite('receiver on SQLite');
let n = 0;
const dirs: (() => void)[] = [];
receiverSuite(sqlite, (name, fn) => sqlite(name, fn), async (persistent) => {
  if (!persistent && n++ % 2 === 0) return ':memory:';
  const { dir, cleanup } = tempDir();
  dirs.push(cleanup);
  return `${dir}/rx.db`;
});
sqlite.after(() => dirs.forEach((c) => c()));
sqlite.run();

const postgres = suite('receiver on PostgreSQL');
const why = missing(INITDB);
let server: TestPostgres | undefined;
let dbs = 0;
postgres.before(async () => {
  if (!why) server = await startPostgres();
});
postgres.after(async () => {
  await server?.stop();
});
receiverSuite(postgres, skipIf(postgres, why), async () => server!.createDatabase(`rx${++dbs}`));
postgres.run();
