/**
 * Minebea Intec (Sartorius) PR 5410, Modbus / J-BUS (also sold as Fairbanks X-Series PR 5410).
 * Source: PR 5410 manual §4.12.10 "MODBUS / J-BUS Word Addresses" (devices.md 1.4): word 16/17 = gross,
 * MSB first; read bits 32..39; write bits 112 zero, 113 tare, 114 reset tare.
 * The bit-to-word layout is from the sister PR 5220 manual (§5.5): word 2 holds bits 39..32 in its high
 * byte and 47..40 in its low byte, so bit n (32..39) is bit n-24 of word 2. Word and bit addresses are
 * used on the wire as numbered (PR 5220 example: FC05 bit 113 is sent as address 0x0071).
 */
import type { ScalePreset } from './preset.ts';

/** Bit number inside word 2 for a J-BUS bit address 32..39. */
const word2 = (jbusBit: number) => ({ bit: jbusBit - 24 });

export const minebeaPr5410: ScalePreset = {
  name: 'minebea-pr5410',
  title: 'Minebea Intec (Sartorius) PR 5410',
  sources: [
    'PR 5410 Instruction Manual §4.12.10, https://www.manualshelf.com/manual/fairbanks/x-series-pr-5410-process-indicator/instruction-manual-english/page-117.html',
    'PR 5220 Instrument Manual §5.3-5.5 (function 1/5 examples, bit layout), https://www.easymanua.ls/sartorius/pr-5220-series/manual?p=124',
  ],
  verified: false,
  notes: [
    'Setpoint limit: none. The MODBUS / J-BUS word table quoted (§4.12.10) has no setpoint or limit value word.',
    'Status is read as holding register 2 (bits 32..39 in its high byte), inferred from the PR 5220 layout; ' +
      'the manual also allows reading the same bits with FC01 from bit 32.',
    'Gross is an int32 in display counts: set decimals to match the indicator (not in the excerpt).',
    'Overload = bit 32 ADC error, 33 above Max, 34 above Max + n d. Stable = bit 38, zero = bit 36.',
    'Zero/tare are coils 112/113 (FC05). Whether they clear themselves is not stated.',
  ],
  map: {
    function: 3,
    weight: { address: 16, type: 'int32', wordOrder: 'big', kind: 'gross' },
    decimals: 2,
    status: {
      address: 2,
      type: 'uint16',
      stable: word2(38),
      zero: word2(36),
      overload: [word2(32), word2(33), word2(34)],
    },
    commands: {
      zero: { kind: 'coil', address: 112 },
      tare: { kind: 'coil', address: 113 },
    },
  },
};
