/**
 * better-sqlite3, the build that works on the running Node line (issue 12 point 4).
 *
 * - better-sqlite3 12 is a classic addon built per Node ABI. From Node 24.19 on, its
 *   Statement destructor (a node::ObjectWrap) aborts the process when a GC finalises it
 *   outside a V8 context ("Assertion failed: (env) != nullptr" in
 *   RemoveEnvironmentCleanupHook; WiseLibs/better-sqlite3#1515, closed without a fix in 12).
 * - better-sqlite3 13 is a Node-API addon with prebuilt binaries in the package and does not
 *   have that destructor, but needs Node 22 or later: on Node 20 it segfaults
 *   (engineering.md).
 *
 * So both are installed (13 under the alias better-sqlite3-napi) and the right one is loaded
 * here. Every module opens its databases through this one; the API is the same.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);
const major = Number(process.versions.node.split('.')[0]);

/** Which package is in use, for `fillgate --version` and bug reports. */
export const sqlitePackage = major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3';

const Database = require(sqlitePackage) as typeof BetterSqlite3;

/** The same names as `import Database from 'better-sqlite3'`: Database.Database, Database.Statement. */
// eslint-disable-next-line @typescript-eslint/no-namespace, @typescript-eslint/no-redeclare
declare namespace Database {
  type Database = BetterSqlite3.Database;
  type Statement<BindParameters extends unknown[] | {} = unknown[], Result = unknown> = BetterSqlite3.Statement<BindParameters, Result>;
  type Options = BetterSqlite3.Options;
}
export default Database;
