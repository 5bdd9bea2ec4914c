// A leftover .only: uvu would run just this test and report green; the runner fails the file.
import { test } from 'uvu';
test('other', () => undefined);
test.only('focused', () => undefined);
test.run();
