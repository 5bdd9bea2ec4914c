import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FillgateError } from '../../protocols/errors.ts';
import { parseLinkUrl, parseModbusUrl } from '../../protocols/link/url.ts';

const good: Array<[string, unknown]> = [
  ['serial:///dev/ttyUSB0', { kind: 'serial', path: '/dev/ttyUSB0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 }],
  [
    'serial:///dev/ttyUSB0?baud=9600&parity=none&databits=8&stopbits=1',
    { kind: 'serial', path: '/dev/ttyUSB0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 },
  ],
  [
    'serial:///dev/ttyS1?baud=19200&parity=even&databits=7&stopbits=2',
    { kind: 'serial', path: '/dev/ttyS1', baudRate: 19200, parity: 'even', dataBits: 7, stopBits: 2 },
  ],
  ['serial:///dev/ttyS1?BAUD=115200&Parity=O', { kind: 'serial', path: '/dev/ttyS1', baudRate: 115200, parity: 'odd', dataBits: 8, stopBits: 1 }],
  [
    'serial:///dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0',
    { kind: 'serial', path: '/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 },
  ],
  ['serial://COM3?baud=4800', { kind: 'serial', path: 'COM3', baudRate: 4800, parity: 'none', dataBits: 8, stopBits: 1 }],
  ['tcp://10.0.0.5:4001', { kind: 'tcp', host: '10.0.0.5', port: 4001 }],
  ['tcp://scale-1.local:8899', { kind: 'tcp', host: 'scale-1.local', port: 8899 }],
  ['tcp://[::1]:4001', { kind: 'tcp', host: '::1', port: 4001 }],
];

for (const [url, expected] of good) {
  test(`parseLinkUrl ${url}`, () => {
    assert.equal(parseLinkUrl(url), expected);
  });
}

const goodModbus: Array<[string, unknown]> = [
  ['modbus-tcp://10.0.0.7', { scheme: 'modbus-tcp', framing: 'mbap', link: { kind: 'tcp', host: '10.0.0.7', port: 502 } }],
  ['modbus-tcp://10.0.0.7:5020', { scheme: 'modbus-tcp', framing: 'mbap', link: { kind: 'tcp', host: '10.0.0.7', port: 5020 } }],
  [
    'modbus-rtu:///dev/ttyUSB0?baud=19200&parity=even',
    {
      scheme: 'modbus-rtu',
      framing: 'rtu',
      link: { kind: 'serial', path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 },
    },
  ],
  ['modbus-rtu-tcp://10.0.0.5:4001', { scheme: 'modbus-rtu-tcp', framing: 'rtu', link: { kind: 'tcp', host: '10.0.0.5', port: 4001 } }],
];

for (const [url, expected] of goodModbus) {
  test(`parseModbusUrl ${url}`, () => {
    assert.equal(parseModbusUrl(url), expected);
  });
}

/** [url, parser, words the message must contain] */
const bad: Array<[string, 'link' | 'modbus', string[]]> = [
  ['', 'link', ['empty', 'example']],
  ['not a url', 'link', ['not a URL']],
  ['http://10.0.0.5:80', 'link', ['unknown scheme', 'serial:', 'tcp:']],
  ['serial://', 'link', ['missing device path', 'serial:///dev/ttyUSB0']],
  ['serial:///dev/ttyUSB0?baud=9601', 'link', ['baud', '9601']],
  ['serial:///dev/ttyUSB0?buad=9600', 'link', ['unknown option', 'buad']],
  ['serial:///dev/ttyUSB0?parity=mark', 'link', ['parity', 'mark']],
  ['serial:///dev/ttyUSB0?databits=6', 'link', ['databits']],
  ['serial:///dev/ttyUSB0?stopbits=1.5', 'link', ['stopbits']],
  ['tcp://10.0.0.5', 'link', ['missing port', 'tcp://10.0.0.5:4001']],
  ['tcp://:4001', 'link', ['not a URL']],
  ['tcp://10.0.0.5:0', 'link', ['port "0"']],
  ['tcp://10.0.0.5:70000', 'link', ['port "70000"']],
  ['tcp://10.0.0.5:4001/x', 'link', ['unexpected path']],
  ['tcp://10.0.0.5:4001?baud=9600', 'link', ['unknown option', 'no options']],
  ['modbus-tcp://10.0.0.5:502', 'link', ['unknown scheme']],
  ['tcp://10.0.0.5:502', 'modbus', ['unknown scheme', 'modbus-tcp']],
  ['modbus-rtu-tcp://10.0.0.5', 'modbus', ['missing port', 'modbus-rtu-tcp://']],
  ['modbus-rtu://?baud=9600', 'modbus', ['missing device path', 'modbus-rtu:///dev/ttyUSB0']],
  ['modbus-rtu:///dev/ttyUSB0?baud=fast', 'modbus', ['baud "fast"']],
];

for (const [url, which, words] of bad) {
  test(`bad ${which} URL ${JSON.stringify(url)}`, () => {
    try {
      if (which === 'link') parseLinkUrl(url);
      else parseModbusUrl(url);
    } catch (err) {
      assert.instance(err, FillgateError);
      const e = err as FillgateError;
      assert.is(e.code, 'BAD_URL');
      for (const w of words) assert.ok(e.message.includes(w), `"${e.message}" should mention ${w}`);
      assert.ok(e.message.includes('example:'), `"${e.message}" should show an example`);
      return;
    }
    assert.unreachable(`${url} should have been rejected`);
  });
}

test.run();
