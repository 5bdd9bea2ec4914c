/**
 * Not every unplug reaches serialport as an error: a hung-up pty (and some USB
 * adapters) keep reading zero bytes in a tight loop while the port looks open.
 * The device node vanishing is the reliable sign; serial links and RTU buses
 * both watch it through this one helper.
 */
import { existsSync } from 'node:fs';

/** How often an open port's device node is checked for. */
export const DEVICE_NODE_CHECK_MS = 250;

/** Calls `gone` (until stopped) once `path` no longer exists; returns the stop function. */
export function watchDeviceNode(path: string, gone: (reason: string) => void): () => void {
  const timer = setInterval(() => {
    if (!existsSync(path)) gone(`${path} vanished (adapter unplugged)`);
  }, DEVICE_NODE_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
