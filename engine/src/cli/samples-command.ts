import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';

// Placeholder until the samples command lands (being written in this session).
export function registerSamples(program: Command): void {
  program.command('samples').description('(in progress)').action(() => {
    throw new CinesegError(ErrorCode.E_INTERNAL, 'samples is not built yet');
  });
}
