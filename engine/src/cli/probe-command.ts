import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';

// Placeholder until the probe command lands (being written in this session).
export function registerProbe(program: Command): void {
  program.command('probe').description('(in progress)').action(() => {
    throw new CinesegError(ErrorCode.E_INTERNAL, 'probe is not built yet');
  });
}
