/**
 * What `cineseg serve` does with a promise that rejects with nobody listening, or an exception
 * that reaches the event loop: one coded log line instead of Node's default.
 *
 * - An unhandled rejection is a bug in one request's path (a background promise nobody awaited):
 *   the process state is intact, so it is logged (and counted as E_INTERNAL) and the server goes
 *   on serving everyone else. Node's default (since v15) would end the process and every session.
 * - An uncaught exception left some callback half done, with no way to know what state it left
 *   behind; continuing would risk acknowledging writes that are not made. It is logged and the
 *   server is stopped (`onFatal`; default exit 1), so a supervisor restarts it and stored
 *   sessions come back from the store.
 */
import { toCinesegError } from '../errors.js';

export interface ProcessGuardOptions {
  log: (line: string) => void;
  /** Called with each unhandled rejection's error (e.g. metrics). */
  onRejection?: (err: Error) => void;
  /** After an uncaught exception was logged (default: exit 1). */
  onFatal?: (err: Error) => void;
}

/** Installs the handlers; the returned function removes them again. */
export function installProcessGuards(opts: ProcessGuardOptions): () => void {
  const onRejection = (reason: unknown): void => {
    const err = toCinesegError(reason);
    opts.log(`unhandled rejection (the server keeps running): ${err.toLine()}`);
    opts.onRejection?.(err);
  };
  const onException = (e: unknown): void => {
    const err = toCinesegError(e);
    opts.log(`uncaught exception, stopping the server: ${err.toLine()}`);
    if (opts.onFatal) opts.onFatal(err);
    else process.exit(1);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
