/**
 * The same station over serial lines (issue 2 point 8): the simulator serves
 * an RS-485 Modbus RTU line (scale + relay module), a Toledo continuous scale,
 * an XK3190-A9 check scale and line readers on socat pty pairs, with wire time
 * added per baud rate; the gateway opens them as serial ports and fills.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from './rig.ts';
import { missing, skipIf } from '../fixtures/needs.ts';

const haveSocat = !missing('socat');
const it = skipIf(test, missing('socat'));
let rig: Rig;

test.before(async () => {
  if (!haveSocat) return;
  rig = await startRig({
    stationFile: 'examples/station-pty.yaml',
    gatewayFile: 'examples/gateway-pty.yaml',
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)),
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
    },
  });
});
test.after(async () => {
  await rig?.close();
});

it('every link is a serial port on a pty', () => {
  assert.ok(rig.config.buses.rs485.url.startsWith('modbus-rtu:///'), rig.config.buses.rs485.url);
  for (const p of rig.config.posts) assert.ok(p.reader.link.startsWith('serial:///'), p.reader.link);
  const p2 = rig.config.posts[1].scale;
  assert.ok(p2.kind === 'stream' && p2.link.startsWith('serial:///'));
});

it('a full fill over Modbus RTU on a pty, re-weighed on the A9 check scale over a pty', async () => {
  const code = 'E2000017A1B20002'; // YSP12: 5 kg
  await beginFill(rig, 'P1', code);
  await rig.until('checked', () => rig.phase('P1') === 'checked', 60_000);
  rig.sim.toCheck('P1');
  rig.sim.badge('P1', 'B1002');
  await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed', 15_000);
  rig.sim.removeCheck();
  const rec = await rig.until('record', () => rig.records.find((r) => r.cylinderCode === code));
  assert.is(rec.outcome, 'filled');
  assert.is(rec.reweighScale, 'check.scale');
  assert.ok(Math.abs((rec.reweighedNetKg ?? 0) - 4.9) <= 0.1, `re-weighed content ${rec.reweighedNetKg}`);
});

it('the Toledo scale on a pty delivers stable samples that match the simulator', async () => {
  rig.sim.place('P2', 'E2000017A1B20004');
  const want = 16.5 + 0.6;
  await rig.until('P2 sample near the placed gross', () => {
    const s = rig.station.posts.get('P2')!.snapshot.ctx.last;
    return s !== undefined && s.stable && Math.abs(s.grossKg - want) < 0.1;
  }, 10_000);
  const health = rig.station.devices.health().find((h) => h.device === 'P2.scale')!;
  assert.is(health.state, 'online');
  rig.sim.remove('P2');
});

test.run();
