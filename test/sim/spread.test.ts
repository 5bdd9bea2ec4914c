/**
 * Per-fill spread of flow and valve closing time (issue 14 point 1): drawn at
 * each placement, seeded, within the configured percentages, and really used
 * by the physics (the gas that flows and the mass in flight after a close).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { testStation } from './helpers.ts';

function station(seed: number) {
  const s = testStation();
  const p = s.posts![0] as Record<string, unknown>;
  p.spread = { flowPct: 5, closeDelayPct: 10, seed };
  return s;
}

async function draws(sim: Simulator, n: number): Promise<{ flowKgPerMin: number; closeDelayMs: number }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${sim.controlUrl}/posts/P1/place`, { method: 'POST', body: JSON.stringify({ code: `S${i}`, tareKg: 3.4, residualKg: 0.2 }) });
    const j = (await res.json()) as { fill: { flowKgPerMin: number; closeDelayMs: number } };
    assert.equal(sim.state().posts[0]!.fill, j.fill, 'state() shows the draw the place answered');
    out.push(j.fill);
    sim.remove('P1');
  }
  return out;
}

test('each placement draws flow within ±5 % and closing time within ±10 %, replayable by seed', async () => {
  const a = await startSimulator(station(42), { portsFromZero: true });
  const b = await startSimulator(station(42), { portsFromZero: true });
  const c = await startSimulator(station(43), { portsFromZero: true });
  try {
    const da = await draws(a, 40);
    assert.equal(await draws(b, 40), da, 'same seed, same draws');
    assert.not.equal(await draws(c, 40), da, 'another seed, other draws');
    for (const d of da) {
      assert.ok(d.flowKgPerMin >= 30 * 0.95 && d.flowKgPerMin <= 30 * 1.05, `flow ${d.flowKgPerMin}`);
      assert.ok(d.closeDelayMs >= 100 * 0.9 && d.closeDelayMs <= 100 * 1.1, `close delay ${d.closeDelayMs}`);
    }
    const flows = new Set(da.map((d) => d.flowKgPerMin.toFixed(3)));
    assert.ok(flows.size > 30, 'the draws vary from fill to fill');
    const lags = da.map((d) => d.closeDelayMs);
    assert.ok(Math.max(...lags) - Math.min(...lags) > 10, 'closing times spread over most of ±10 %');
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('the drawn flow and closing time are what the cylinder gets', async () => {
  const sim = await startSimulator(station(7), { portsFromZero: true });
  try {
    sim.place('P1', 'X1', { tareKg: 3.4, residualKg: 0 });
    const { flowKgPerMin, closeDelayMs } = sim.state().posts[0]!.fill;
    const p = sim.post('P1');
    // Open at t=0 (50 ms opening delay), close at 1050: 1000 ms of flow, then closeDelayMs more in flight.
    p.commandValve(true, 0);
    p.commandValve(false, 1050);
    const expected = (flowKgPerMin * (1000 + closeDelayMs)) / 60_000;
    assert.ok(Math.abs(p.gasKg(10_000)! - expected) < 1e-9, `gas ${p.gasKg(10_000)} vs ${expected}`);
    assert.is(sim.state().posts[0]!.valve.closeDelayMs, closeDelayMs);
    // A slow-valve fault wins over the draw, and clearing it gives the draw back.
    sim.setFault({ device: 'P1.valve', kind: 'slow-valve', closeDelayMs: 900 });
    assert.is(sim.state().posts[0]!.valve.closeDelayMs, 900);
    sim.clearFaults('P1.valve', 'slow-valve');
    assert.is(sim.state().posts[0]!.valve.closeDelayMs, closeDelayMs);
  } finally {
    await sim.close();
  }
});

test.run();
