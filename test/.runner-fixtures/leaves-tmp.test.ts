// Leaves a file (standing in for a signing key) in the temporary folder: the runner removes it.
import { test } from 'uvu';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
test('leaves a key behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-leftover-'));
  writeFileSync(join(dir, 'station.key'), 'not really a key');
  writeFileSync(process.env.RUNNER_FIXTURE_OUT!, dir);
});
test.run();
