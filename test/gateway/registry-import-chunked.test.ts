/**
 * The off-loop registry import (issue 9 point 5): the worker and the chunked
 * writes give the same results and per-row reports as the one-transaction
 * import; the CLI imports in short transactions and refuses while the record
 * store journals a fill in progress.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from '../../gateway/sqlite.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { openRegistry } from '../../gateway/registry/registry.ts';
import { importChunked } from '../../gateway/registry/import-chunked.ts';
import { importInWorker } from '../../gateway/registry/import-runner.ts';
import { registryCommand } from '../../gateway/cli/registry.ts';
import { RecordStore } from '../../gateway/records/store.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { bigCylinderCsv } from './event-loop-support.ts';
import { makeAttempt, makeKeys, tempDir } from './records/fixtures.ts';

const { dir, cleanup } = tempDir('fillgate-imp-');
const bytes = (s: string) => new TextEncoder().encode(s);
const count = (db: Database.Database, sql: string) => (db.prepare(sql).get() as { n: number }).n;

test('in the worker: a file with bad rows writes nothing (all-or-nothing) and reports each row; valid-rows writes the rest', async () => {
  const db = new Database(`${dir}/w.db`);
  openRegistry(db);
  const file = bigCylinderCsv(1000, { prefix: 'W', badRows: [10, 500] });
  const strict = await importInWorker({ dbPath: `${dir}/w.db`, kind: 'cylinders', format: 'csv', bytes: bytes(file), opts: {} });
  assert.is(strict.applied, false);
  assert.equal(strict.issues.filter((i) => i.severity === 'error').map((i) => [i.row, i.key, i.field]), [[10, 'W000010', 'nextInspectionDue'], [500, 'W000500', 'nextInspectionDue']]);
  assert.is(count(db, 'SELECT COUNT(*) AS n FROM cylinders'), 0);
  let progress = 0;
  const lenient = await importInWorker({ dbPath: `${dir}/w.db`, kind: 'cylinders', format: 'csv', bytes: bytes(file), opts: { mode: 'valid-rows', source: 'test' }, chunk: { sliceMs: 1, pauseMs: 1 } }, () => progress++);
  assert.is(lenient.applied, true);
  assert.is(lenient.created, 998);
  assert.is(lenient.rejected, 2);
  assert.ok(progress > 1, `${progress} transactions`);
  assert.is(count(db, 'SELECT COUNT(*) AS n FROM cylinders'), 998);
  assert.is(count(db, "SELECT COUNT(*) AS n FROM registry_events WHERE kind = 'cylinders.imported'"), 1);
  const again = await importInWorker({ dbPath: `${dir}/w.db`, kind: 'cylinders', format: 'csv', bytes: bytes(file), opts: { mode: 'valid-rows' } });
  assert.is(again.unchanged, 998, 'importing again writes nothing');
  db.close();
});

test('chunked: a row the database refuses at write time (scrapped since the check) stops an all-or-nothing import, saying how far it got', async () => {
  const db = new Database(':memory:');
  const reg = openRegistry(db);
  const file = bigCylinderCsv(50, { prefix: 'S' });
  // Scrap S000030 between the plan and its write: the plan is made first, then the writes run slice by slice.
  reg.upsertCylinder({ code: 'S000030', valveCode: null, ownerUnit: 'HNGAS01', model: 'YSP35.5', waterVolumeL: 35.5, allowedFillKg: 14.9, tareKg: 16.5, medium: 'LPG', manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31', status: 'active' });
  const r = importChunked(reg, 'cylinders', file, 'csv', {}, { sliceMs: 0, pauseMs: 1 });
  reg.scrap('S000030', 'test', 'test');
  const report = await r;
  assert.ok(report.issues.some((i) => i.row === 30 && /scrapped/.test(i.message)), JSON.stringify(report.issues));
  assert.ok(report.issues.some((i) => i.row === 0 && /stopped after writing 29 of 50 rows/.test(i.message)), JSON.stringify(report.issues));
  assert.is(report.created + report.updated, 29);
  assert.is(count(db, "SELECT COUNT(*) AS n FROM cylinders WHERE status = 'active'"), 29);
  db.close();
});

test('fillgate registry import: per-row report, chunked writes; refused while a fill is in progress', async () => {
  const cfg = readFileSync(new URL('../../examples/gateway.yaml', import.meta.url), 'utf8').replace(/^dataDir:.*$/m, `dataDir: ${dir}/data`);
  writeFileSync(`${dir}/gateway.yaml`, cfg);
  writeFileSync(`${dir}/cyl.csv`, bigCylinderCsv(300, { prefix: 'CLI', badRows: [7] }));
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  let code: number;
  try {
    code = await registryCommand(['import', '--config', `${dir}/gateway.yaml`, '--valid-rows', 'cylinders', `${dir}/cyl.csv`]);
  } finally {
    console.log = log;
  }
  assert.is(code, 0, lines.join('\n'));
  assert.ok(lines.some((l) => /^row 7 \(line 8\) CLI000007 nextInspectionDue: error:/.test(l)), lines.join('\n'));
  const db = new Database(`${dir}/data/station.db`, { readonly: true });
  assert.is(count(db, 'SELECT COUNT(*) AS n FROM cylinders'), 299);
  db.close();

  const store = new RecordStore({ db: `${dir}/data/records.db`, clock: new ManualClock(), station: 'ST-HN-0001', privateKey: makeKeys().privateKey });
  store.markInProgress('P2', makeAttempt(1, { station: 'ST-HN-0001', post: 'P2' }));
  const errors: string[] = [];
  const err = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(' '));
  try {
    code = await registryCommand(['import', '--config', `${dir}/gateway.yaml`, 'cylinders', `${dir}/cyl.csv`]);
  } finally {
    console.error = err;
    store.close();
  }
  assert.is(code, 1);
  assert.match(errors.join('\n'), /P2/);
});

test.after(() => cleanup());
test.run();
