/**
 * Issue 10 point 3: one physical scale in two roles is a config error (two posts' scales, or a
 * post's scale as the check scale: same bus + unit, or same link); a check scale without a reader
 * is a warning (its reading goes to the post that waited longest, not to the cylinder on it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { stationChecks } from '../../gateway/config/checks.ts';

const root = new URL('../..', import.meta.url).pathname;
const example = () => parseYaml(readFileSync(`${root}examples/gateway.yaml`, 'utf8'));
const errors = (raw: unknown) => stationChecks(raw).filter((i) => i.severity === 'error');
const warnings = (raw: unknown) => stationChecks(raw).filter((i) => i.severity === 'warning');
const at = (issues: { path: (string | number)[] }[]) => issues.map((i) => i.path.join('.'));

test('the example has none of these problems', () => {
  assert.equal(stationChecks(example()), []);
});

test("a post's scale also configured as the check scale (same bus and unit) is an error", () => {
  const raw = example();
  raw.checkScale = { kind: 'modbus', bus: 'p1-scale', unit: 1, preset: 'rinstrum-c500' };
  const e = errors(raw);
  assert.equal(at(e), ['checkScale']);
  assert.match(e[0]!.message, "post P1's scale");
});

test('two posts on one scale (the same stream link, written differently) is an error', () => {
  const raw = example();
  raw.posts[0].scale = { kind: 'stream', link: 'TCP://127.0.0.1:15032/', format: 'toledo' };
  assert.equal(at(errors(raw)), ['posts.1.scale']);
});

test('two posts on one reader is an error', () => {
  const raw = example();
  raw.posts[1].reader = { link: raw.posts[0].reader.link };
  assert.equal(at(errors(raw)), ['posts.1.reader']);
});

test('a check scale without a reader warns that its reading goes to the post that waited longest', () => {
  const raw = example();
  delete raw.checkReader;
  const w = warnings(raw);
  assert.equal(at(w), ['checkScale']);
  assert.match(w[0]!.message, 'waited longest');
});

test('a check reader without a check scale is an error', () => {
  const raw = example();
  delete raw.checkScale;
  assert.equal(at(errors(raw)), ['checkReader']);
});

test.run();
