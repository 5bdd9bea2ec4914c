/**
 * Flintec FT-112(D), Modbus RTU/TCP.
 * Source: FT-112 Technical Manual Rev 1.0.0 (May 2019) section 13.2.1, via devices.md 1.3.
 * Holding registers (manual numbers 4xxxx, wire = number - 40001):
 *   40005 gross (2 words), 40007 status (32 bit), 40009 error status (32 bit), 40025 command.
 * One read of wire 4..9 (6 registers) covers gross, status and error status.
 */
import type { ScalePreset } from './preset.ts';

export const flintecFt112: ScalePreset = {
  name: 'flintec-ft112',
  title: 'Flintec FT-112 / FT-112D',
  sources: [
    'FT-112 Technical Manual Rev 1.0.0 (May 2019) §13.2.1, ' +
      'http://88.208.23.73:8080/en/manual/flintec/ft-112/ft-112_technical-manual_2305554-121.html',
  ],
  verified: false,
  notes: [
    'Setpoint limit: none. The §13.2.1 register table (40001..40025) lists no setpoint register; the older FT-12 (Technical Manual Rev 1.35 p.40) loads setpoints through a buffer (40012..40016) and a control command, which is not assumed to carry over to the FT-112. Add a setpoint override only from the FT-112\'s own documentation.',
    'Word order of the 32-bit values is not in the excerpt: high word first (Modbus convention) is assumed.',
    'Gross is read as signed int32 (the manual does not state signedness; a negative gross must decode negative).',
    'Decimals come from status bits B27..B31 (X.XXXX .. no decimal); the weight unit is assumed to be kg. ' +
      'B6 "second unit" must be 0, otherwise the poll is refused.',
    'Overload comes from the error status word 40009: B2 system error, B3/B4/B5 ADC under/over/out of range.',
    'Command register 40025: 1 zero, 2 tare (3 clear). Whether the indicator resets it to 0 itself is not stated.',
    'The heartbeat at 40011 (+1 every 100 ms) is not used yet.',
  ],
  map: {
    function: 3,
    weight: { address: 4, type: 'int32', wordOrder: 'big', kind: 'gross' },
    status: {
      address: 6,
      type: 'uint32',
      wordOrder: 'big',
      motion: { bit: 2 },
      net: { bit: 3 },
      zero: { bit: 12 },
      decimalBits: [
        { bit: 27, decimals: 4 },
        { bit: 28, decimals: 3 },
        { bit: 29, decimals: 2 },
        { bit: 30, decimals: 1 },
        { bit: 31, decimals: 0 },
      ],
      require: [{ bit: 6, activeLow: true }],
    },
    errorStatus: {
      address: 8,
      type: 'uint32',
      wordOrder: 'big',
      faults: [{ bit: 2 }, { bit: 3 }, { bit: 4 }, { bit: 5 }],
    },
    commands: {
      zero: { kind: 'register', address: 24, value: 1 },
      tare: { kind: 'register', address: 24, value: 2 },
    },
  },
};
