/**
 * Reads ffmpeg's `showinfo` filter log lines. They are the only per-frame channel ffmpeg offers
 * beside the raw pixels, and carry each frame's index, PTS and size in filter order.
 */

/** One frame as a showinfo instance saw it. */
export interface ShowinfoFrame {
  /** Position of the showinfo filter in the -vf chain (0 = first). */
  filter: number;
  /** That filter's own frame counter. */
  n: number;
  /** PTS in the filter's time base; null for frames without a timestamp. */
  pts: number | null;
  /** pts_time as printed (6 significant digits); a fallback when the time base is unknown. */
  ptsTime: number | null;
  width: number;
  height: number;
}

/** A showinfo instance's input time base, printed once at -v verbose. */
export interface ShowinfoTimeBase {
  filter: number;
  num: number;
  den: number;
}

const FRAME_RE = /^\[Parsed_showinfo_(\d+) @ [^\]]+\] n:\s*(\d+) pts:\s*(\S+)\s+pts_time:(\S+)\s.*?\bs:(\d+)x(\d+)/;
const TB_RE = /^\[Parsed_showinfo_(\d+) @ [^\]]+\] config in time_base: (\d+)\/(\d+)/;

/** Parses one stderr line; null when it is not a showinfo frame or time-base line. */
export function parseShowinfoLine(line: string): ShowinfoFrame | ShowinfoTimeBase | null {
  if (!line.startsWith('[Parsed_showinfo_')) return null;
  const m = FRAME_RE.exec(line);
  if (m) {
    const pts = m[3] === 'NOPTS' ? null : Number(m[3]);
    const ptsTime = m[4] === 'NOPTS' ? null : Number(m[4]);
    return {
      filter: Number(m[1]),
      n: Number(m[2]),
      pts: pts !== null && Number.isFinite(pts) ? pts : null,
      ptsTime: ptsTime !== null && Number.isFinite(ptsTime) ? ptsTime : null,
      width: Number(m[5]),
      height: Number(m[6]),
    };
  }
  const t = TB_RE.exec(line);
  if (t) return { filter: Number(t[1]), num: Number(t[2]), den: Number(t[3]) };
  return null;
}

/** Splits a byte stream into lines (ffmpeg ends lines with \n; progress uses \r, also split). */
export class LineSplitter {
  private rest = '';

  push(chunk: Buffer | string, onLine: (line: string) => void): void {
    const text = this.rest + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const parts = text.split(/\r?\n|\r/);
    this.rest = parts.pop() ?? '';
    // A runaway line without newline must not grow without bound.
    if (this.rest.length > 65_536) this.rest = this.rest.slice(-65_536);
    for (const p of parts) onLine(p);
  }

  flush(onLine: (line: string) => void): void {
    if (this.rest) onLine(this.rest);
    this.rest = '';
  }
}
