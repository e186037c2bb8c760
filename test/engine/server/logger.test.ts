/**
 * The server's structured log (logger.ts): JSON lines with levels; paths go through the server's
 * PathRedactor in the message, in string fields and in errors; patient fields are censored at the
 * top of a line and one level down. The values come from the DICOM fixture's fake patient.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CENSOR, createServerLogger, lineLog } from '../../../engine/src/server/logger.js';
import { PathRedactor } from '../../../engine/src/server/path-redactor.js';
import { FAKE_PHI } from '../../fixtures/dicom/make-us-cine.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-logger-'));
const media = join(tmp, 'SECRETUSERJDOE', 'media');
const redactor = new PathRedactor([[media, 'media']]);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(level?: 'info' | 'warn') {
  const lines: string[] = [];
  const logger = createServerLogger({ redact: (s) => redactor.redact(s), write: (l) => lines.push(l), ...(level ? { level } : {}) });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('server logger', () => {
  it('writes one JSON object a line, with its level and time', () => {
    const { logger, lines, parsed } = capture();
    const log = lineLog(logger);
    log('listening');
    log('live source: E_LIVE_STALLED: no frame for 5 s');
    logger.error({ code: 'E_INTERNAL', status: 500 }, 'http GET answered 500');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l.endsWith('\n')).toBe(false);
    const [a, b, c] = parsed();
    expect(a).toMatchObject({ level: 'info', msg: 'listening' });
    expect(b).toMatchObject({ level: 'warn' });
    expect(c).toMatchObject({ level: 'error', code: 'E_INTERNAL', status: 500 });
    expect(Number.isNaN(Date.parse(String(a!.time)))).toBe(false);
  });

  it('drops lines under its level, and says nothing without a writer', () => {
    const { logger, lines } = capture('warn');
    lineLog(logger)('an info line');
    logger.warn('a warning');
    expect(lines).toHaveLength(1);
    expect(createServerLogger({ redact: (s) => s }).isLevelEnabled('error')).toBe(false);
  });

  it('redacts paths in messages, string fields and errors, and censors patient fields', () => {
    const { logger, lines, parsed } = capture();
    lineLog(logger)(`E_DECODE_CORRUPT: ${join(media, 'broken.mp4')} is damaged`);
    logger.info({ file: join(media, 'a.mp4'), err: new Error(`cannot read ${join(media, 'a.mp4')}`) }, 'read failed');
    logger.warn({ ...FAKE_PHI, header: { ...FAKE_PHI } }, 'a header');
    const [a, b, c] = parsed();
    expect(a!.msg).toBe('E_DECODE_CORRUPT: media/broken.mp4 is damaged');
    expect(b!.file).toBe('media/a.mp4');
    expect((b!.err as { message: string }).message).toBe('cannot read media/a.mp4');
    expect(c!.PatientName).toBe(CENSOR);
    expect((c!.header as Record<string, string>).PatientID).toBe(CENSOR);
    const all = lines.join('\n');
    expect(all).not.toContain(tmp);
    expect(all).not.toContain('SECRETUSERJDOE');
    for (const v of Object.values(FAKE_PHI).filter((v) => v.length > 3)) expect(all).not.toContain(v);
  });
});
