// One test runs, one needs a tool that does not exist: 1 passed, 1 skipped (a failure under CI=true).
import { test } from 'uvu';
import { missing, skipIf } from '../fixtures/needs.ts';
test('runs', () => undefined);
skipIf(test, missing('no-such-tool-fillgate'))('needs a tool', () => undefined);
test.run();
