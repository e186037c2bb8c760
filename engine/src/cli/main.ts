#!/usr/bin/env node
/**
 * `cineseg` command line. Each command lives in its own file and registers itself here.
 * Errors print as one line `E_CODE: message` (no stack trace) and exit non-zero; set
 * CINESEG_DEBUG=1 to see the stack.
 */
import { Command, CommanderError } from 'commander';
import { toCinesegError } from '../errors.js';
import { registerProbe } from './probe-command.js';
import { registerDecode } from './decode-command.js';
import { registerTrack } from './track-command.js';
import { registerEval } from './eval-command.js';
import { registerDemo } from './demo-command.js';
import { registerExport } from './export-command.js';
import { registerBatch } from './batch-command.js';
import { registerServe } from './serve-command.js';
import { registerFinetune } from './finetune-command.js';
import { registerWorker } from './worker-command.js';
import { registerQueue } from './queue-command.js';

const program = new Command();
program
  .name('cineseg')
  .description('Segment and track objects in medical video (SAM2 memory attention)')
  .version('0.1.0')
  // Usage errors as one coded line like every other error (not the whole help page); the
  // settings are inherited by the commands registered below.
  .exitOverride()
  .configureOutput({ outputError: () => undefined });

registerProbe(program);
registerDecode(program);
registerTrack(program);
registerEval(program);
registerDemo(program);
registerExport(program);
registerBatch(program);
registerServe(program);
registerFinetune(program);
registerWorker(program);
registerQueue(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help and --version end here too, having printed what was asked.
    if (err.exitCode === 0) return;
    const cmd = process.argv.slice(2).find((a) => program.commands.some((c) => c.name() === a));
    process.stderr.write(`E_USAGE: ${err.message.replace(/^error: /, '')} (see cineseg ${cmd ? `${cmd} ` : ''}--help)\n`);
    process.exitCode = 2;
    return;
  }
  const e = toCinesegError(err);
  process.stderr.write(`${e.toLine()}\n`);
  if (process.env.CINESEG_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = e.code === 'E_USAGE' ? 2 : 1;
});
