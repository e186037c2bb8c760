/**
 * Maps what ffmpeg/ffprobe print on failure to cineseg's stable codes. ffmpeg has no machine-readable
 * error channel, so this reads its stderr; patterns are the messages of ffmpeg 5.1-7.x.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { frameSizeAllowed, frameTooLarge, refusedPictureSize } from '../source/frame-limits.js';

/** [stderr pattern, code, what it means, applies to local files only]. */
const RULES: Array<[RegExp, ErrorCode, string, boolean?]> = [
  [/No such file or directory/i, ErrorCode.E_INPUT_NOT_FOUND, 'input not found'],
  [
    /Connection refused|Network is unreachable|No route to host|Name or service not known|Temporary failure in name resolution|Server returned [45]\d\d|Connection reset by peer/i,
    ErrorCode.E_LIVE_CONNECT_FAILED,
    'could not connect',
  ],
  [/Connection timed out|Operation timed out/i, ErrorCode.E_LIVE_CONNECT_TIMEOUT, 'connection timed out'],
  [/moov atom not found/i, ErrorCode.E_DECODE_CORRUPT, 'no moov atom (truncated or unfinished mp4/mov)'],
  // A playlist or concat script saved under a video's name: it would make ffmpeg read other files.
  // (An HLS URL is a legitimate live source; only files are refused for being playlists.)
  [/Unsafe file name|\[(hls|concat) @ [^\]]*\]/i, ErrorCode.E_INPUT_UNSUPPORTED, 'a playlist that refers to other files, not a video', true],
  [/does not contain any stream|matches no streams|Output file #0 does not contain/i, ErrorCode.E_DECODE_NO_VIDEO, 'no video stream'],
  [/Invalid data found when processing input|could not find codec parameters|error reading header|Failed to read frame size|Invalid argument/i, ErrorCode.E_DECODE_CORRUPT, 'not a decodable video'],
  // A file ffmpeg read to its end without finding a stream (e.g. MPEG-TS packets carrying nothing).
  [/^file:.*: End of file$/im, ErrorCode.E_DECODE_CORRUPT, 'no decodable stream in the file'],
];

/** The last few meaningful stderr lines, squeezed onto one line for a message. */
export function stderrSummary(stderr: string, maxChars = 200): string {
  const lines = stderr
    .split(/\r?\n/)
    // "[mov,mp4 @ 0x55...] " names a C struct address: noise for a person.
    .map((l) => (l.startsWith('[Parsed_') ? '' : l.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/, '').trim()))
    .filter((l) => l.length > 0 && !/^(frame=|Press \[q\]|Input #|Output #|Stream mapping|Metadata:|Duration:|Statistics:|Conversion failed!|Last message repeated)/.test(l));
  const tail = lines.slice(-2).join(' | ');
  return tail.length > maxChars ? `${tail.slice(0, maxChars - 3)}...` : tail;
}

/**
 * Classifies a failed ffmpeg/ffprobe run. `fallback` is used when no pattern matches
 * (E_DECODE_PROBE_FAILED for ffprobe, E_DECODE_FAILED for decoding).
 */
export function classifyFfmpegFailure(input: string, stderr: string, fallback: ErrorCode, details: Record<string, unknown> = {}): CinesegError {
  const refused = refusedPictureSize(stderr);
  if (refused && !frameSizeAllowed(refused.width, refused.height)) return frameTooLarge(input, refused.width, refused.height);
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !input.startsWith('file:');
  for (const [re, code, what, onlyFiles] of RULES) {
    if (onlyFiles && isUrl) continue;
    if (re.test(stderr)) {
      return new CinesegError(code, `${input}: ${what}${suffix(stderr)}`, { details: { ...details, stderr: stderr.slice(-2000) } });
    }
  }
  return new CinesegError(fallback, `${input}: ffmpeg failed${suffix(stderr)}`, { details: { ...details, stderr: stderr.slice(-2000) } });
}

function suffix(stderr: string): string {
  const s = stderrSummary(stderr);
  return s ? ` (ffmpeg: ${s})` : '';
}

/** Decoder complaints that mean a damaged bitstream: counted as decode errors, frames still flow. */
export const DECODE_ERROR_LINE =
  /error while decoding|concealing \d+ (DC|AC|MV) errors|Invalid NAL unit|corrupt (decoded )?frame|decode_slice_header error|Packet corrupt|Invalid data found|partial file|Error splitting the input|missing picture|no frame!|Truncating packet|corrupt input packet/i;

/**
 * A decoder stderr line (not showinfo's) that ends the run: ffmpeg renders text or unknown bytes
 * as ANSI art (tty, bin ... demuxers), which is never a clip, and a playlist saved as a file would
 * decode the files it names (probe.ts refuses it too). Null for any other line.
 */
export function fatalDecoderLine(input: string, line: string, isFile: boolean): CinesegError | null {
  if (/^Input #0, (tty|bin|xbin|adf|idf),/.test(line)) return new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${input}: a text file, not a video`);
  if (isFile && /^Input #0, (hls|applehttp|concat|dash|imf|webm_dash_manifest)\b/.test(line)) {
    return new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: a playlist that refers to other files, not a video`);
  }
  return null;
}
