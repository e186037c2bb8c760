/**
 * The one error table: every code has an entry (stage, HTTP status, one-line meaning), the server's
 * status mapping reads it, and docs/errors.md is exactly what scripts/gen-errors-doc.mjs writes
 * from it (a code added without an entry, or a doc edited by hand or left stale, fails here).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_INFO, ErrorCode, httpStatusOf } from '../../engine/src/errors.js';
// @ts-expect-error -- a plain .mjs script without type declarations
import { ERRORS_MD, loadErrorTable, renderErrorsDoc } from '../../scripts/gen-errors-doc.mjs';

const STAGES = new Set(['source', 'decode', 'model', 'track', 'mask', 'store', 'queue', 'protocol', 'server', 'adapt', 'export', 'cli', 'player']);

describe('ERROR_INFO', () => {
  it('has one entry per code, and nothing else', () => {
    const codes = Object.values(ErrorCode);
    expect(codes.filter((c) => !(c in ERROR_INFO))).toEqual([]);
    expect(Object.keys(ERROR_INFO).filter((c) => !(codes as string[]).includes(c))).toEqual([]);
    // keys are the values: a code spelled differently from its key would be two codes
    for (const [k, v] of Object.entries(ErrorCode)) expect(v).toBe(k);
  });

  it('gives every code a known stage, an error status and a one-line meaning', () => {
    for (const [code, info] of Object.entries(ERROR_INFO)) {
      expect(STAGES.has(info.stage), `${code}: stage ${info.stage}`).toBe(true);
      expect(Number.isInteger(info.http) && info.http >= 400 && info.http <= 599, `${code}: http ${info.http}`).toBe(true);
      expect(info.meaning.length, `${code}: meaning`).toBeGreaterThan(10);
      expect(info.meaning, `${code}: one line`).not.toMatch(/\n/);
    }
  });

  it('maps codes to the statuses the server answers with, and an unknown code to 500', () => {
    expect(httpStatusOf(ErrorCode.E_SESSION_UNKNOWN)).toBe(404);
    expect(httpStatusOf(ErrorCode.E_SESSION_BUSY)).toBe(409);
    expect(httpStatusOf(ErrorCode.E_AUTH_REQUIRED)).toBe(401);
    expect(httpStatusOf(ErrorCode.E_PATH_FORBIDDEN)).toBe(403);
    expect(httpStatusOf(ErrorCode.E_EXPORT_FORMAT)).toBe(400);
    expect(httpStatusOf(ErrorCode.E_CONNECTION_LIMIT)).toBe(503);
    expect(httpStatusOf(ErrorCode.E_DECODE_CORRUPT)).toBe(500);
    expect(httpStatusOf(ErrorCode.E_INTERNAL)).toBe(500);
    expect(httpStatusOf('E_FROM_A_NEWER_SERVER')).toBe(500);
  });
});

describe('docs/errors.md', () => {
  it('is what scripts/gen-errors-doc.mjs writes from engine/src/errors.ts', async () => {
    const { ErrorCode: codes, ERROR_INFO: info } = await loadErrorTable();
    // the script reads the same table the engine compiles
    expect(info).toEqual(ERROR_INFO);
    const doc = renderErrorsDoc(codes, info);
    expect(readFileSync(ERRORS_MD, 'utf8'), 'docs/errors.md is stale: run `node scripts/gen-errors-doc.mjs`').toBe(doc);
    for (const code of Object.values(ErrorCode)) expect(doc).toContain(`| \`${code}\` | ${ERROR_INFO[code].stage} | ${ERROR_INFO[code].http} |`);
  });

  it('refuses to render a table with a code that has no entry', () => {
    const { E_USAGE: _dropped, ...rest } = ERROR_INFO;
    expect(() => renderErrorsDoc(ErrorCode, rest)).toThrow(/E_USAGE has no entry/);
  });
});
