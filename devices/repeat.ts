/**
 * Run an async task every `ms` with setTimeout chaining: never two at once, and
 * no error ever ends the repetition (a supervision loop must not die).
 */
export interface Repeater {
  cancel(): void;
}

/** `immediate`: the first run now rather than after `ms` (a poll loop that should report at once). */
export function repeat(ms: number, task: () => Promise<void>, opts: { immediate?: boolean } = {}): Repeater {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const run = () => {
    timer = undefined;
    if (cancelled) return;
    Promise.resolve()
      .then(task)
      .catch(() => undefined)
      .finally(() => {
        if (!cancelled) timer = setTimeout(run, ms);
      });
  };
  timer = setTimeout(run, opts.immediate ? 0 : ms);
  return {
    cancel() {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}
