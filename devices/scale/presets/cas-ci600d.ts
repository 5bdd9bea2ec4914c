/**
 * CAS CI-600D series, Modbus RTU, holding registers.
 * Source: CI-600D manual, "List of usable registers" (p.82/83 of the manual), via devices.md 1.7 and
 * re-read for issue 9 point 7: 40008/40009 gross H/L, 40010/40011 net H/L, 40014/40015 raw AD,
 * 40017/40018 set point 1 H/L (R/W, saved to EEPROM), 40019.. set points 2..5.
 * Wire address = manual number − 40001 (gross at 7, set point 1 at 16); H = high word first.
 */
import type { ScalePreset } from './preset.ts';

export const casCi600d: ScalePreset = {
  name: 'cas-ci600d',
  title: 'CAS CI-600D series',
  sources: ['CI-600D manual, list of usable registers, https://www.easymanua.ls/cas/ci-600d-series/manual?p=82'],
  verified: false,
  notes: [
    'Setpoint limit: set point 1 at 40017/40018 (H/L) is written and read back before every open; ' +
      'the register address and word order are from the manual\'s register list (not checked on a device). ' +
      'The indicator must be set up so that set point 1 switches its output at gross ≥ set point; that setup ' +
      'and the output\'s wiring to the valve power are the integrator\'s, and not visible over Modbus.',
    'The manual marks the set points "saved to EEPROM": one write per fill wears the EEPROM (often ~100,000 ' +
      'writes). Ask CAS for the endurance; at several hundred fills a day consider scale.setpointLimit: false ' +
      'and a fixed hardware limit instead.',
    'Signedness and decimals of the weight are not in the register list: int32 and 2 decimals (e = 0.01 kg ' +
      'counts) are assumed; set decimals to match the display. Set point counts use the same decimals.',
    'No status register is listed (no motion, overload or net bit): every sample is reported unstable, so a ' +
      'fill cannot start until a status word is added with overrides from the full manual.',
  ],
  map: {
    function: 3,
    weight: { address: 7, type: 'int32', wordOrder: 'big', kind: 'gross' },
    decimals: 2,
    setpoint: { address: 16, type: 'int32', wordOrder: 'big' },
  },
};
