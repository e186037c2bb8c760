/**
 * The largest picture cineseg decodes. A container header can claim any size for a few bytes; the
 * frame buffers (ffmpeg's, then width x height x 3 bytes per frame in this process) are only
 * allocated for sizes under this limit, so a hostile header costs an error, not the machine.
 */
import { CinesegError, ErrorCode } from '../errors.js';

/** Longest side: also the largest output size the decoder can be asked to scale to. */
export const MAX_FRAME_SIDE = 16384;
/** Most pixels per picture: 8192 x 8192 (192 MiB as rgb24); 8K UHD (7680 x 4320) fits. */
export const MAX_FRAME_PIXELS = 8192 * 8192;

/** True when a width x height picture is within the limits. */
export function frameSizeAllowed(width: number, height: number): boolean {
  return width <= MAX_FRAME_SIDE && height <= MAX_FRAME_SIDE && width * height <= MAX_FRAME_PIXELS;
}

export function frameTooLarge(input: string, width: number, height: number): CinesegError {
  return new CinesegError(ErrorCode.E_DECODE_TOO_LARGE, `${input}: ${width}x${height} pictures are larger than cineseg decodes (at most ${MAX_FRAME_SIDE} px a side and ${MAX_FRAME_PIXELS} pixels)`, {
    details: { width, height, maxSide: MAX_FRAME_SIDE, maxPixels: MAX_FRAME_PIXELS },
  });
}

/** @throws CinesegError E_DECODE_TOO_LARGE when the picture is over the limits. */
export function checkFrameSize(input: string, width: number, height: number): void {
  if (!frameSizeAllowed(width, height)) throw frameTooLarge(input, width, height);
}

/**
 * The size ffmpeg refused, from its "Picture size WxH is invalid" / "exceeds specified max pixel
 * count" messages (its own sanity check and our `-max_pixels`), or null.
 */
export function refusedPictureSize(stderr: string): { width: number; height: number } | null {
  const m = /Picture size (\d+)x(\d+) (is invalid|exceeds specified max pixel count)/.exec(stderr);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}
