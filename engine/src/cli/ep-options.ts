/**
 * The flags every command that loads a model shares: which execution provider, whether falling
 * back from it is allowed, and whether onnxruntime's own warnings reach the terminal. One place,
 * so `track`, `batch`, `serve` and `demo` read and say them alike.
 */
import type { ExecutionProviderRequest } from '../model/ort-sessions.js';

export const EP_HELP = 'execution provider: auto, cpu, cuda, tensorrt or webgpu';
export const STRICT_EP_HELP = 'fail with E_EP_UNAVAILABLE when that provider cannot start, instead of falling back to the CPU';
export const VERBOSE_HELP = "let onnxruntime's own warnings through (node placement and the like)";

/** What ModelSessions.create takes of these flags. */
export interface EpFlags {
  ep: ExecutionProviderRequest;
  strictEp?: boolean;
  verbose?: boolean;
}

/** The flags from commander's parsed options (`--ep`, `--strict-ep`, `--verbose`). */
export function epFlags(o: { ep?: unknown; strictEp?: unknown; verbose?: unknown }): EpFlags {
  return {
    ep: String(o.ep ?? 'auto') as ExecutionProviderRequest,
    ...(o.strictEp ? { strictEp: true } : {}),
    ...(o.verbose ? { verbose: true } : {}),
  };
}
