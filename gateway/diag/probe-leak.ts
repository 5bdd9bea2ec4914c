/**
 * `fillgate doctor` targets for the Modbus leak devices (gateway/config/leak-devices.ts):
 * read-only, like every probe. A detector controller: each channel's %LEL and status through
 * the gateway's own decode, with a hint when a reading is implausible for the preset (the map is
 * unverified: devices/leak/presets.ts). A cut-off valve: its trip coil and its closed switch; the
 * coil is never written (closing the station's gas supply is not a test).
 */
import { decodeLeakChannel } from '../../devices/leak/detector.ts';
import { channelRegisters, leakDetectorMap } from '../../devices/leak/presets.ts';
import type { CutoffValveConfig, LeakDetectorConfig } from '../config/leak-devices.ts';
import type { ContentCheck, ModbusTarget } from './probe-modbus.ts';

export function detectorTarget(d: LeakDetectorConfig): ModbusTarget {
  return {
    id: d.id,
    role: 'detector',
    unitId: d.unit,
    async read(unit): Promise<ContentCheck> {
      const map = leakDetectorMap(d.preset);
      const read = (a: number) => ((d.registerType ?? map.registerType) === 'input' ? unit.readInputRegisters(a, 1) : unit.readHoldingRegisters(a, 1));
      const parts: string[] = [];
      const hints: string[] = [];
      for (const c of d.channels) {
        const regs = c.lelRegister !== undefined ? { lelRegister: c.lelRegister, statusRegister: c.statusRegister } : channelRegisters(map, c.channel);
        const statusRegister = d.noStatus ? undefined : (c.statusRegister ?? regs.statusRegister);
        const [raw] = await read(regs.lelRegister);
        const status = statusRegister === undefined ? undefined : (await read(statusRegister))[0];
        const r = decodeLeakChannel(raw!, status, { lelScale: d.lelScale ?? map.lelScale, lelOffset: d.lelOffset ?? map.lelOffset, level1Lel: d.level1Lel, level2Lel: d.level2Lel, ...((d.bits ?? map.bits) ? { bits: d.bits ?? map.bits } : {}) });
        parts.push(`${c.id} ${r.lel} %LEL level ${r.level}${r.fault ? ' FAULT' : ''}`);
        if (r.lel < -5 || r.lel > 100) hints.push(`${c.id}: ${r.lel} %LEL (raw ${raw}) is not a plausible reading: check the preset (${map.source}), lelScale/lelOffset and the register`);
        else if (r.level > 0 || r.fault) hints.push(`${c.id} reports ${r.fault ? 'a fault' : `level ${r.level}`}: the station would be locked`);
      }
      return { status: hints.length ? 'problem' : 'ok', detail: parts.join(', '), hints };
    },
  };
}

export function cutoffTarget(c: CutoffValveConfig): ModbusTarget {
  return {
    id: c.id,
    role: 'cutoff',
    unitId: c.unit,
    async read(unit): Promise<ContentCheck> {
      const [on] = await unit.readCoils(c.coil, 1);
      const fb = c.feedback;
      const [bit] = fb.kind === 'coil' ? await unit.readCoils(fb.address, 1) : await unit.readDiscreteInputs(fb.address, 1);
      const closed = bit === fb.closedWhen;
      const detail = `trip coil ${c.coil} ${on ? 'ON' : 'OFF'}, feedback ${fb.kind} ${fb.address} ${bit ? 'ON' : 'OFF'} = ${closed ? 'closed' : 'open'}`;
      if (closed) return { status: 'problem', detail, hints: ['the cut-off valve reports closed: no gas reaches the posts; reopen it by hand once the cause is cleared, or check feedback.closedWhen and the switch wiring'] };
      return { status: 'ok', detail, hints: [] };
    },
  };
}
