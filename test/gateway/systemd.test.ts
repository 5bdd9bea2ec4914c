/**
 * systemd integration: the unit file, when the watchdog pings (pure decision),
 * and the real systemd-notify delivering READY=1 / WATCHDOG=1 to a fake
 * NOTIFY_SOCKET (a socat UNIX-RECVFROM listener) until a post stops processing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, skipIf } from '../fixtures/needs.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchdogSettings, watchdogVerdict, SystemdWatchdog, type PostProbe } from '../../gateway/runtime/watchdog.ts';
import { waitFor } from '../protocols/link-helpers.ts';

const root = new URL('../..', import.meta.url).pathname;

test('the example unit restarts the service and uses the watchdog', () => {
  const unit = readFileSync(join(root, 'examples/fillgate.service'), 'utf8');
  for (const line of ['Type=notify', 'Restart=always', 'WatchdogSec=20', 'NotifyAccess=all', 'ExecStart=/usr/bin/fillgate start --config /etc/fillgate/station.yaml']) {
    assert.ok(unit.split('\n').includes(line), line);
  }
});

test('the unit runs the gateway with the memory settings the memory bench measured, in the form the benches read', async () => {
  const { unitEnvironment } = await import('../bench/service-env.ts');
  const env = unitEnvironment(readFileSync(join(root, 'examples/fillgate.service'), 'utf8'));
  assert.is(env.NODE_OPTIONS, '--max-semi-space-size=2');
  assert.is(env.MALLOC_ARENA_MAX, '2');
  assert.is(env.NODE_ENV, 'production');
});

test('settings: nothing without NOTIFY_SOCKET; pings at half of WATCHDOG_USEC; none for another WATCHDOG_PID', () => {
  assert.is(watchdogSettings({}), undefined);
  assert.equal(watchdogSettings({ NOTIFY_SOCKET: '/run/x' }), { socket: '/run/x', pingMs: undefined });
  assert.equal(watchdogSettings({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '20000000' }, 42), { socket: '/run/x', pingMs: 10_000 });
  assert.equal(watchdogSettings({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42), { socket: '/run/x', pingMs: 10_000 });
  assert.equal(watchdogSettings({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '20000000', WATCHDOG_PID: '7' }, 42), { socket: '/run/x', pingMs: undefined });
});

test('verdict: ping only when the loop is prompt and every post processes input', () => {
  const cases: [Parameters<typeof watchdogVerdict>[0], boolean, string?][] = [
    [{ loopDelayMs: 30, maxLoopDelayMs: 2000, stuckPosts: [] }, true],
    [{ loopDelayMs: 2500, maxLoopDelayMs: 2000, stuckPosts: [] }, false, 'event loop stalled 2500 ms'],
    [{ loopDelayMs: 30, maxLoopDelayMs: 2000, stuckPosts: [{ id: 'P2', error: 'boom' }] }, false, 'post P2 (boom) not processing input'],
  ];
  for (const [input, ok, reason] of cases) {
    const v = watchdogVerdict(input);
    assert.is(v.ok, ok, JSON.stringify(input));
    if (!v.ok && reason) assert.match(v.reason, reason);
  }
});

function fakePosts(): { probes: PostProbe[]; broken: Set<string>; ticks: Map<string, number> } {
  const broken = new Set<string>();
  const ticks = new Map<string, number>();
  const probes = ['P1', 'P2'].map((id) => ({
    id,
    probe() {
      if (broken.has(id)) throw new Error('transition threw');
      ticks.set(id, (ticks.get(id) ?? 0) + 1);
    },
  }));
  return { probes, broken, ticks };
}

test('checks feed every post a probe; a failing post or a stalled loop withholds the ping', async () => {
  const sent: string[] = [];
  const posts = fakePosts();
  const wd = new SystemdWatchdog({ socket: '/unused', pingMs: 1000 }, { posts: () => posts.probes, maxLoopDelayMs: 100 }, async (m) => void sent.push(m));
  await wd.ready();
  try {
    assert.is(sent[0], 'READY=1\nSTATUS=running');
    await new Promise((r) => setTimeout(r, 100)); // the delay monitor takes its first samples
    // A loop blocked well past the limit is seen by the delay monitor.
    const until = performance.now() + 400;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 60)); // the monitor samples on its own timer
    assert.is(await wd.check(), false);
    assert.ok(sent.some((m) => m.startsWith('STATUS=unhealthy: event loop stalled')), sent.join('|'));
    // Generous limit for the healthy case: the machine is shared.
    (wd as unknown as { opts: { maxLoopDelayMs: number } }).opts.maxLoopDelayMs = 60_000;
    assert.is(await wd.check(), true);
    assert.equal([posts.ticks.get('P1'), posts.ticks.get('P2')], [2, 2]);
    posts.broken.add('P2');
    assert.is(await wd.check(), false);
    assert.ok(sent.includes('STATUS=unhealthy: post P2 (transition threw) not processing input'), sent.join('|'));
    assert.is(sent.filter((m) => m === 'WATCHDOG=1').length, 1);
    posts.broken.clear();
    assert.is(await wd.check(), true);
    assert.is(sent.filter((m) => m === 'WATCHDOG=1').length, 2);
  } finally {
    await wd.stop();
  }
  assert.is(sent[sent.length - 1], 'STOPPING=1');
});

skipIf(test, missing('socat', 'systemd-notify'))('real systemd-notify to a fake NOTIFY_SOCKET: READY, pings, and no pings while a post is stuck', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-notify-'));
  const socket = join(dir, 'notify.sock');
  let received = '';
  const listener: ChildProcess = spawn('socat', ['-u', `UNIX-RECVFROM:${socket},fork`, '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
  listener.stdout!.on('data', (b: Buffer) => (received += b.toString()));
  const posts = fakePosts();
  let wd: SystemdWatchdog | undefined;
  try {
    await waitFor(() => existsSync(socket), 'socat listening', 10_000);
    wd = new SystemdWatchdog({ socket, pingMs: 100 }, { posts: () => posts.probes, maxLoopDelayMs: 60_000 });
    await wd.ready();
    await waitFor(() => received.includes('READY=1'), 'READY=1', 10_000);
    assert.match(received, `MAINPID=${process.pid}`);
    const pings = () => received.split('WATCHDOG=1').length - 1;
    await waitFor(() => pings() >= 3, 'three pings', 15_000);
    posts.broken.add('P1');
    await waitFor(() => received.includes('STATUS=unhealthy: post P1'), 'unhealthy status', 10_000);
    // Every ping sent so far has arrived once systemd-notify exited; later checks send none.
    const sentBefore = wd.pings;
    await waitFor(() => pings() >= sentBefore, 'pings delivered', 10_000);
    const checks = wd.checks;
    await waitFor(() => wd!.checks >= checks + 3, 'three more checks', 15_000);
    assert.is(wd.pings, sentBefore, 'no ping while P1 is stuck');
    assert.is(pings(), sentBefore);
    posts.broken.clear();
    await waitFor(() => pings() > sentBefore, 'pings resume', 15_000);
  } finally {
    await wd?.stop();
    listener.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
