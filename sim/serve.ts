/**
 * The simulator as a program: start it, print where a gateway connects (and
 * any warnings), then read the console verbs (sim/console.ts) from stdin. Used
 * by sim/main.ts and by `fillgate sim`, so both behave the same.
 */
import { createInterface, type Interface } from 'node:readline';
import { runCommand } from './console.ts';
import { startSimulator, type Simulator } from './index.ts';

export interface ServeOptions {
  station: string;
  portsFromZero?: boolean;
  ptyDir?: string;
  /** Endpoints as one JSON line instead of the table. */
  json?: boolean;
  /** Relay modules never clear a coil by themselves. */
  noWatchdog?: boolean;
  input?: NodeJS.ReadableStream;
  print?: (line: string) => void;
}

export interface ServedSimulator {
  sim: Simulator;
  /** Stops reading commands and closes every device server. */
  close(): Promise<void>;
}

export async function serveSimulator(o: ServeOptions): Promise<ServedSimulator> {
  const print = o.print ?? ((l: string) => console.log(l));
  const sim = await startSimulator(o.station, { portsFromZero: o.portsFromZero === true, ...(o.ptyDir ? { ptyDir: o.ptyDir } : {}), noWatchdog: o.noWatchdog === true });
  const endpoints = sim.endpoints();
  if (o.json) print(JSON.stringify({ control: sim.controlUrl, endpoints, warnings: sim.warnings }));
  else {
    print(`fillgate simulator: ${sim.station.name}`);
    print(`control  ${sim.controlUrl}`);
    for (const [id, url] of Object.entries(endpoints)) print(`${id.padEnd(14)} ${url}`);
    for (const w of sim.warnings) print(`warning: ${w}`);
    print('type help for commands');
  }
  // Commands from stdin for people; when stdin ends (run in the background) the simulator keeps serving.
  const input = o.input ?? process.stdin;
  let rl: Interface | undefined = createInterface({ input, terminal: false });
  rl.on('line', (line) => {
    const out = runCommand(sim, line);
    if (out) print(out);
  });
  return {
    sim,
    async close() {
      rl?.close();
      rl = undefined;
      // An open stdin would keep the process alive after the simulator is gone.
      if (input === process.stdin) process.stdin.destroy();
      await sim.close();
    },
  };
}
