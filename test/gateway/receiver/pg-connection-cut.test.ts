/**
 * A receiver node outlives its database connections (issue 11 point 2): a connection cut while
 * a transaction holds it between two statements (PostgreSQL restarted, failed over, or an admin's
 * pg_terminate_backend) fails that transaction and leaves the node serving. Found by the
 * multi-node restart test, where the node died of an unhandled 'error' on a checked-out client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { PgReceiverStore } from '../../../gateway/receiver/pg-store.ts';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';

const it = skipIf(test, missing(INITDB));
let server: TestPostgres | undefined;
test.after(async () => {
  await server?.stop();
});

it('a connection terminated mid-transaction fails that transaction; the node keeps serving on a new connection', async () => {
  server ??= await startPostgres();
  const url = await server.createDatabase('cut');
  const store = new PgReceiverStore({ dbPath: url, verifyThreads: 0 } as never);
  await store.ready();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  let uncaught: unknown;
  const onUncaught = (err: unknown) => (uncaught = err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    // Inside a transaction, between two statements: the backend is terminated while the node waits.
    const tx = (store as unknown as { tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> }).tx(async (c) => {
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await new Promise((r) => setTimeout(r, 300)); // the FATAL and the socket close arrive while no query runs
      return (await c.query('SELECT 1 AS one')).rows;
    });
    const err = await tx.then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err instanceof Error, 'the transaction on the cut connection failed');
    assert.is(uncaught, undefined, `no unhandled error: ${String(uncaught)}`);
    // The pool dropped the dead client: the next transaction runs on a fresh connection.
    const rows = await (store as unknown as { tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> }).tx(async (c) => (await c.query('SELECT 2 AS two')).rows);
    assert.equal(rows, [{ two: 2 }]);
    assert.is(await store.schemaVersion() > 0, true);
  } finally {
    process.off('uncaughtException', onUncaught);
    await admin.end();
    await store.close();
  }
});

test.run();
