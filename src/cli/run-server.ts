/** How `pemba serve` and `pemba serve-testing` run: start, then close gracefully on SIGTERM or SIGINT. */
import type { Logger } from 'pino';

/** Starts the server (exit 1 when it cannot), then on the first signal closes it and exits; a second signal exits at once. */
export async function runUntilSignalled(
  start: () => Promise<{ close(): Promise<void> }>,
  logger: Logger,
): Promise<void> {
  let server: { close(): Promise<void> };
  try {
    server = await start();
  } catch (error) {
    logger.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    logger.info({ signal }, `received ${signal}`);
    process.once(signal, () => {
      logger.warn({ signal }, `received ${signal} again: exiting without waiting`);
      process.exit(1);
    });
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
