/**
 * What a finished ffmpeg decoder run means: the error to report, or none. Apart from the decoder
 * because it is a verdict on facts (exit code, frames, stderr), not part of the reading: an
 * ffmpeg that exits 0 with no frame and one that exits 1 after a hundred are both ordinary.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { frameSizeAllowed, frameTooLarge, refusedPictureSize } from '../source/frame-limits.js';
import { classifyFfmpegFailure } from './ffmpeg-errors.js';

/** The facts of a finished run. */
export interface DecodeRunEnd {
  input: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  framesDecoded: number;
  /** The run started at a frame or time after the first. */
  seek: boolean;
  startFrame?: number;
  startTimeUs?: number;
  /** Recent stderr lines other than showinfo's. */
  stderrTail: string;
  decodeErrors: number;
  firstWarning?: string;
}

/**
 * The error a finished run ends with, or null. A run that delivered frames never fails here: a
 * damaged tail is a warning (`tailWarning`), not a failure.
 */
export function decodeRunError(e: DecodeRunEnd): CinesegError | null {
  if (e.framesDecoded > 0) return null;
  if (e.code === 0 && e.seek) {
    return new CinesegError(ErrorCode.E_SEEK_OUT_OF_RANGE, `${e.input}: no frame at or after the requested start`, {
      details: { startFrame: e.startFrame, startTimeUs: e.startTimeUs },
    });
  }
  if (e.code === 0) {
    // Some decoders refuse an oversized picture per frame and let ffmpeg end "successfully".
    const refused = refusedPictureSize(e.stderrTail);
    return refused && !frameSizeAllowed(refused.width, refused.height)
      ? frameTooLarge(e.input, refused.width, refused.height)
      : new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${e.input}: no frame could be decoded`);
  }
  const err = classifyFfmpegFailure(e.input, e.stderrTail, ErrorCode.E_DECODE_FAILED, { exitCode: e.code, signal: e.signal });
  // Nothing ffmpeg recognised, but its decoder complained about every packet: damaged data.
  return err.code === ErrorCode.E_DECODE_FAILED && e.decodeErrors > 0
    ? new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${e.input}: no frame could be decoded (${e.decodeErrors} decode errors, first: ${e.firstWarning ?? '?'})`, { details: err.details ?? {} })
    : err;
}

/** The warning for a run that delivered frames and then exited non-zero, or null. */
export function tailWarning(e: Pick<DecodeRunEnd, 'code' | 'signal' | 'framesDecoded'>): string | null {
  return e.framesDecoded > 0 && e.code !== 0 ? `ffmpeg exited with ${e.code ?? e.signal} after ${e.framesDecoded} frames` : null;
}
