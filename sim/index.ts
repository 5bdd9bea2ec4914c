/**
 * The device simulator: a filling station's scales, readers and valve relays
 * served over their real wire protocols (Modbus TCP/RTU, continuous scale
 * streams, reader lines) on 127.0.0.1 and pty pairs, driven by an HTTP/stdin
 * control interface. It imports only protocols/ (and npm packages), never the
 * gateway's devices/ or gateway/: the simulator must not be built from the
 * logic it tests (engineering.md example 7). See sim/README.md.
 */
import { type ControlServer, startControlServer } from './control.ts';
import { SimulatorCore, type SimulatorOptions } from './simulator.ts';
import { type Station, type StationInput, loadStation } from './station.ts';

export { loadStation, validateStation, stationSchema } from './station.ts';
export type { Station, StationInput, PostSpec, ScaleSpec, CylinderSpec } from './station.ts';
export type { SimState, PostState, CylinderState, SimulatorOptions } from './simulator.ts';
export type { Fault, FaultInput, FaultKind } from './faults.ts';
export { runCommand, consoleHelp } from './console.ts';
export { CylinderOnScale, ScaleModel, mulberry32 } from './physics.ts';

export class Simulator extends SimulatorCore {
  private control: ControlServer | undefined;

  /** Base URL of the HTTP control interface, e.g. `http://127.0.0.1:15000`. */
  get controlUrl(): string {
    if (!this.control) throw new Error('simulator is not running');
    return this.control.url;
  }

  /** @internal used by startSimulator */
  async listen(port: number): Promise<void> {
    this.control = await startControlServer(this, port);
  }

  override async close(): Promise<void> {
    const control = this.control;
    this.control = undefined;
    await control?.close();
    await super.close();
  }
}

/**
 * Starts every device server and the control interface. `station` is a path
 * to a YAML/JSON file, a raw object, or an already loaded Station.
 */
export async function startSimulator(
  station: Station | StationInput | string,
  opts: SimulatorOptions & { portsFromZero?: boolean } = {},
): Promise<Simulator> {
  const loaded = loadStation(station as StationInput | string);
  const sim = new Simulator(loaded, opts);
  try {
    await sim.start();
    await sim.listen(opts.portsFromZero ? 0 : loaded.control.port);
  } catch (err) {
    await sim.close();
    throw err;
  }
  return sim;
}
