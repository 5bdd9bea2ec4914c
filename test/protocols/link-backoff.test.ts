import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Backoff } from '../../protocols/link/backoff.ts';

test('doubles from 100 ms to a 5 s cap by default, and reset starts over', () => {
  const b = new Backoff({ random: () => 0 });
  const seen = Array.from({ length: 9 }, () => b.next());
  assert.equal(seen, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  b.reset();
  assert.is(b.next(), 100);
});

test('jitter shortens each delay by up to its fraction, never lengthens it', () => {
  const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 1 });
  assert.is(b.next(), 800);
  const real = new Backoff({ initialMs: 1000, maxMs: 1000 });
  for (let i = 0; i < 50; i++) {
    const d = real.next();
    assert.ok(d >= 800 && d <= 1000, String(d));
  }
});

test('options are clamped to sane values', () => {
  const b = new Backoff({ initialMs: 0, maxMs: -5, factor: 0.5, jitter: 7, random: () => 0 });
  assert.is(b.next(), 1);
  assert.is(b.next(), 1);
});

test.run();
