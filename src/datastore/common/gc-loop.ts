/**
 * Background garbage collection: runs `gc` every `intervalMs`. The timer is unref'd (it never keeps a
 * process alive), a run never overlaps the previous one (the next is scheduled only after it ends),
 * and `stop()` waits for a run in progress so a datastore can close its connections safely after it.
 */
export interface GcLoop {
  stop(): Promise<void>;
}

export function startGcLoop(
  gc: () => Promise<unknown>,
  intervalMs: number,
  onError: (error: unknown) => void = warn,
): GcLoop {
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = gc()
        .then(
          () => undefined,
          (e: unknown) => onError(e),
        )
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, intervalMs);
    timer.unref();
  };

  if (intervalMs > 0) schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

function warn(error: unknown): void {
  process.emitWarning(`datastore garbage collection failed: ${error instanceof Error ? error.message : String(error)}`);
}
