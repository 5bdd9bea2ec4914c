/**
 * A tiny typed event source. Listeners that throw are isolated: one bad
 * listener never stops the others or the loop that emitted (a polling loop
 * must never die because a consumer threw; see domain.md section 7).
 */
export type Unsubscribe = () => void;

export class Signal<T> {
  private listeners = new Set<(value: T) => void>();
  /** Errors thrown by listeners, counted rather than propagated. */
  listenerErrors = 0;
  lastListenerError: unknown = undefined;

  on(listener: (value: T) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  once(listener: (value: T) => void): Unsubscribe {
    const off = this.on((v) => {
      off();
      listener(v);
    });
    return off;
  }

  emit(value: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(value);
      } catch (err) {
        this.listenerErrors++;
        this.lastListenerError = err;
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }

  clear(): void {
    this.listeners.clear();
  }
}
