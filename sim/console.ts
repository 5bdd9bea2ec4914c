/**
 * Line commands for people at the terminal, the same verbs as the HTTP API:
 *   state | endpoints | faults
 *   place P1 CYL0001 [tareKg residualKg]   remove P1
 *   scan P1 [code]   badge P1 B0001   press P1 start|stop
 *   to-check P1      check-remove
 *   gas ld-P1 lel=60 fault=0      reopen cv-main
 *   fault P1.scale late ms=300   fault P1.valve stuck-open   clear [device [kind]]
 *   help
 */
import type { FaultKind } from './faults.ts';
import type { Button } from './post.ts';
import type { SimulatorCore } from './simulator.ts';

export const consoleHelp = `commands:
  state                         posts, cylinders, valves, displayed weights, faults
  endpoints                     where a gateway connects
  place <post> <code> [tare residual]   put a cylinder on a post's scale
  remove <post>                 take it off
  scan <post> [code]            the reader sends a code (default: the cylinder's)
  badge <post> <badge>          an operator badge on the post's reader
  press <post> start|stop       press a button
  to-check <post>               move the cylinder to the check-weigh scale
  check-remove                  take it off the check scale
  bypass <post> <kg/min>        gas into the cylinder past the closed fill valve (0 closes it)
  gas <sensor> [lel=60] [fault=1]  gas (%LEL) or a fault at a gas detector's sensor
  reopen <cutoff>               reopen an emergency cut-off valve by hand
  fault <device> <kind> [k=v…]  e.g. fault P1.scale late ms=300, fault P1.valve slow-valve closeDelayMs=800
                                kinds: no-answer late corrupt garbage link-drop frozen stuck-open slow-valve
                                welded-relay ignore-setpoint
  clear [device [kind]]         clear faults
  help`;

/** Parses `k=v` words into numbers where they look like numbers. */
function params(words: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const w of words) {
    const [k, v = ''] = w.split('=', 2);
    if (!k) continue;
    out[k] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

function need(word: string | undefined, what: string): string {
  if (!word) throw new Error(`missing ${what} (type help)`);
  return word;
}

/** Runs one line; returns the text to print. Never throws: errors come back as text. */
export function runCommand(sim: SimulatorCore, line: string): string {
  const [verb, ...args] = line.trim().split(/\s+/);
  if (!verb) return '';
  try {
    const result = dispatch(sim, verb, args);
    return typeof result === 'string' ? result : JSON.stringify(result, null, 2);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function dispatch(sim: SimulatorCore, verb: string, a: string[]): unknown {
  switch (verb) {
    case 'help':
      return consoleHelp;
    case 'state':
      return sim.state();
    case 'endpoints':
      return sim.endpoints();
    case 'faults':
      return sim.faults.list();
    case 'place': {
      const tare = a[2] === undefined ? undefined : Number(a[2]);
      const residual = a[3] === undefined ? undefined : Number(a[3]);
      return sim.place(need(a[0], 'post'), need(a[1], 'code'), { tareKg: tare, residualKg: residual });
    }
    case 'remove':
      return sim.remove(need(a[0], 'post')) ?? 'nothing on the scale';
    case 'scan':
      return sim.scan(need(a[0], 'post'), a[1]) ? 'sent' : 'sent, but no gateway is connected to the reader';
    case 'badge':
      return sim.badge(need(a[0], 'post'), need(a[1], 'badge')) ? 'sent' : 'sent, but no gateway is connected to the reader';
    case 'press':
      sim.press(need(a[0], 'post'), need(a[1], 'button') as Button);
      return 'pressed';
    case 'to-check':
      return sim.toCheck(need(a[0], 'post'));
    case 'bypass':
      return sim.bypass(need(a[0], 'post'), Number(need(a[1], 'kg/min')));
    case 'check-remove':
      return sim.removeCheck() ?? 'nothing on the check scale';
    case 'gas': {
      const p = params(a.slice(1));
      return sim.gas(need(a[0], 'sensor'), { lel: typeof p.lel === 'number' ? p.lel : undefined, fault: p.fault === undefined ? undefined : p.fault === 1 || p.fault === 'true' });
    }
    case 'reopen':
      return sim.reopenCutoff(need(a[0], 'cut-off valve'));
    case 'fault':
      return sim.setFault({ device: need(a[0], 'device'), kind: need(a[1], 'kind'), ...params(a.slice(2)) });
    case 'clear':
      sim.clearFaults(a[0], a[1] as FaultKind | undefined);
      return 'cleared';
    default:
      return `unknown command '${verb}' (type help)`;
  }
}
