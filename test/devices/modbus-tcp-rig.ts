/**
 * One real Modbus TCP slave (modbus-serial's ServerTCP, a Modbus stack we did
 * not write) behind the real bus arbiter, for the drivers' over-the-wire tests.
 * FakeUnits' discrete input N reads as the inverse of coil N, which doubles as
 * a valve's closed-position feedback.
 */
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { freePort } from '../protocols/link-helpers.ts';
import { FakeUnits, startTcpSlave } from '../protocols/modbus-helpers.ts';

export interface TcpRig {
  units: FakeUnits;
  unit: ModbusUnit;
  close(): Promise<void>;
}

export async function tcpRig(unitId = 1): Promise<TcpRig> {
  const units = new FakeUnits([unitId]);
  // ServerTCP takes a fixed port: bind 0 first to find a free one.
  const port = await freePort();
  const server = await startTcpSlave(units, port);
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { reconnect: { initialMs: 50, maxMs: 200 } });
  await bus.open();
  return {
    units,
    unit: bus.unit(unitId),
    async close() {
      await bus.close();
      await server.close();
    },
  };
}
