import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Signal } from '../../protocols/signal.ts';

test('a throwing listener does not stop the others and is counted', () => {
  const s = new Signal<number>();
  const seen: number[] = [];
  s.on(() => {
    throw new Error('boom');
  });
  s.on((v) => seen.push(v));
  s.emit(1);
  s.emit(2);
  assert.equal(seen, [1, 2]);
  assert.is(s.listenerErrors, 2);
});

test('once fires a single time', () => {
  const s = new Signal<string>();
  let n = 0;
  s.once(() => n++);
  s.emit('a');
  s.emit('b');
  assert.is(n, 1);
});

test.run();
