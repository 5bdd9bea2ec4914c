/** Runs one diagnostics CLI command in a child process for diag-cli.test.ts: `<doctor|modbus|serial> args...`. */
import { doctorCommand, modbusCommand, serialCommand } from '../../gateway/cli/diag.ts';

const commands: Record<string, (args: string[]) => Promise<number>> = { doctor: doctorCommand, modbus: modbusCommand, serial: serialCommand };
const [name, ...args] = process.argv.slice(2);
const run = commands[name ?? ''];
if (!run) {
  console.error(`unknown command ${name}`);
  process.exitCode = 3;
} else {
  run(args).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(`crashed: ${String(err)}`);
      process.exitCode = 4;
    },
  );
}
