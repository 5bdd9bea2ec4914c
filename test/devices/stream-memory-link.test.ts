import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { flush } from '../fixtures/wait.ts';

test('bytes written on one end arrive on the other, in order, asynchronously', async () => {
  const [a, b] = memoryLinkPair();
  await a.open();
  await b.open();
  const got: Buffer[] = [];
  b.data.on((d) => got.push(d));
  await a.write(Buffer.from('one'));
  await a.write(Buffer.from('two'));
  assert.equal(got, [], 'not delivered synchronously');
  await flush();
  assert.is(Buffer.concat(got).toString(), 'onetwo');
  assert.equal(a.written.map((w) => w.toString()), ['one', 'two']);
});

test('maxChunk splits deliveries; writes to a closed or dropped link reject with LINK_CLOSED', async () => {
  const [a, b] = memoryLinkPair({ maxChunk: 2 });
  await a.open();
  await b.open();
  const got: string[] = [];
  b.data.on((d) => got.push(d.toString()));
  await a.write(Buffer.from('abcde'));
  await flush();
  assert.equal(got, ['ab', 'cd', 'e']);
  const states: string[] = [];
  b.stateChange.on((s) => states.push(`${s.state}${s.error ? ':' + s.error : ''}`));
  a.drop('cable pulled');
  assert.is(a.state, 'reconnecting');
  assert.is(b.state, 'reconnecting');
  assert.equal(states, ['reconnecting:cable pulled']);
  try {
    await a.write(Buffer.from('x'));
    assert.unreachable();
  } catch (err) {
    assert.ok(isFillgateError(err, 'LINK_CLOSED'));
  }
  a.restore();
  assert.is(b.state, 'open');
  await a.write(Buffer.from('back'));
  await flush();
  assert.is(got.slice(-2).join(''), 'back');
  await a.close();
  assert.is(a.state, 'closed');
  a.drop();
  assert.is(a.state, 'closed', 'a closed end stays closed through drop/restore');
  a.restore();
  assert.is(a.state, 'closed');
});

test('bytes in flight when the wire drops are lost; opening while down waits for restore', async () => {
  const [a, b] = memoryLinkPair();
  await a.open();
  await b.open();
  const got: Buffer[] = [];
  b.data.on((d) => got.push(d));
  await a.write(Buffer.from('lost'));
  a.drop();
  await flush();
  assert.equal(got, []);
  const [c, d] = memoryLinkPair();
  c.drop();
  await d.open();
  assert.is(d.state, 'reconnecting');
  c.restore();
  assert.is(d.state, 'open');
  d.inject('hello');
  // inject fires synchronously on the same end
  const seen: string[] = [];
  d.data.on((x) => seen.push(x.toString()));
  d.inject('again');
  assert.equal(seen, ['again']);
});

test.run();
