/**
 * The committed bad input corpus (test/fixtures/bad-videos) and what its manifest expects of each
 * file, per stage. Shared by the decode, CLI and server tests. Not a test file itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './media-fixtures.js';

export const BAD_VIDEOS = join(REPO, 'test', 'fixtures', 'bad-videos');

/** A code, or facts probe() must report. */
export type ProbeExpect = string | Record<string, string | number | boolean>;
/** A code, or frame counts (and the first frame's size / orientation) at source size. */
export type DecodeExpect = string | { frames?: number; minFrames?: number; maxFrames?: number; decodeErrors?: boolean; width?: number; height?: number; orientation?: string };
export interface Expect {
  probe: ProbeExpect;
  decode: DecodeExpect;
  /** A code, or "ok". */
  track: string;
  live?: string;
}

export interface BadVideo {
  file: string;
  how: string;
  path: string;
  expect: Expect;
}

interface RawEntry {
  file: string;
  how: string;
  expect: string | Expect;
}

/** Every corpus entry, with a single-code `expect` spread over the stages. */
export function loadCorpus(): BadVideo[] {
  const raw = JSON.parse(readFileSync(join(BAD_VIDEOS, 'manifest.json'), 'utf8')) as { files: RawEntry[] };
  return raw.files.map((e) => ({
    file: e.file,
    how: e.how,
    path: join(BAD_VIDEOS, e.file),
    expect: typeof e.expect === 'string' ? { probe: e.expect, decode: e.expect, track: e.expect } : e.expect,
  }));
}

export const isCode = (v: unknown): v is string => typeof v === 'string' && /^E_[A-Z_]+$/.test(v);
