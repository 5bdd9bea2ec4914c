/**
 * Rinstrum C500 / C530, Modbus RTU/TCP, input registers (FC04).
 * Source: C500-600-2.0.3 Reference Manual §19.3 "Modbus Input Registers" (p.101) and the status bits (p.145),
 * via devices.md 1.5: 1 gross SINT32, 3 net, 5 displayed, 7 status UINT32 (bit0 underload, bit1 overload,
 * bit2 motion, bit3 gross, bit6 centre of zero), 9 error status UINT32.
 * One read of 8 registers from the gross register covers gross and status.
 */
import type { ScalePreset } from './preset.ts';

export const rinstrumC500: ScalePreset = {
  name: 'rinstrum-c500',
  title: 'Rinstrum C500 / C530',
  sources: [
    'C500-600-2.0.3 §19.3 p.101, https://www.easymanua.ls/rinstrum/c530/manual?p=106',
    'C500-600-2.0.3 status bits p.145, https://www.easymanua.ls/rinstrum/c530/manual?p=150',
    'C500-600-2.0.3 §22.2.3 coils p.162, https://www.easymanua.ls/rinstrum/c530/manual?p=167',
  ],
  verified: false,
  notes: [
    'Setpoint limit: none. No setpoint/target register address was found in the quoted pages of the C500 manual.',
    'Register numbers 1/3/5/7 are taken as wire addresses (pairs start on odd numbers). ' +
      'If readings are garbage, the table may be 1-based: override weight.address 0 and status.address 6.',
    'The same manual (§22.2.2) lists a different input-register layout (30002 status, 30007 gross). ' +
      'Which applies to which firmware/mode is not verified.',
    'Word order: big endian is the default (MBS? answers 0,502; MBS1 switches to little endian) [inferred].',
    'Values are integers without a decimal point: set decimals to match the indicator display.',
    'Zero/tare use coils 00001/00002 (wire 0/1, self-clearing) from §22.2.3; not verified with the §19.3 layout.',
  ],
  map: {
    function: 4,
    weight: { address: 1, type: 'int32', wordOrder: 'big', kind: 'gross' },
    decimals: 2,
    status: {
      address: 7,
      type: 'uint32',
      wordOrder: 'big',
      motion: { bit: 2 },
      zero: { bit: 6 },
      overload: [{ bit: 0 }, { bit: 1 }],
    },
    commands: {
      zero: { kind: 'coil', address: 0 },
      tare: { kind: 'coil', address: 1 },
    },
  },
};
