/** The header's clip-progress words and the sessions panel's export URL. */
import { describe, expect, it } from 'vitest';
import { clipProgressText } from '../../../player/src/sessions/clip-progress.js';
import { exportUrl } from '../../../player/src/sessions/session-api.js';
import { validationRows } from '../../../player/src/models/ImproveModel.js';

describe('clip progress, export URL and validation rows', () => {
  it('says what the clip is doing', () => {
    expect(clipProgressText({ stage: 'hash', fraction: 0.4 })).toBe('hashing 40 %');
    expect(clipProgressText({ stage: 'package', fraction: null })).toBe('packaging…');
    expect(clipProgressText({ stage: 'ready', fraction: 1 })).toBe('');
    expect(clipProgressText({ stage: 'failed', fraction: null, code: 'E_FFMPEG' })).toBe('clip not ready (E_FFMPEG)');
  });

  it('builds the export query', () => {
    expect(exportUrl('abc', 'coco', null, null)).toBe('/api/sessions/abc/export?format=coco');
    expect(exportUrl('abc', 'png', [1, 3], [10, 40])).toBe('/api/sessions/abc/export?format=png&objects=1%2C3&frames=10-40');
  });

  it('flattens a validation table', () => {
    expect(validationRows({ base: { jf: 0.5 }, tuned: { jf: 0.61234, frames: 20 }, clips: ['a', 'b'] })).toEqual([
      ['base.jf', '0.5000'],
      ['tuned.jf', '0.6123'],
      ['tuned.frames', '20'],
      ['clips', 'a, b'],
    ]);
    expect(
      validationRows({
        items: [
          { clip: 'a', jf: 0.5 },
          { clip: 'b', jf: 0.6 },
        ],
      }),
    ).toEqual([['items', '2 per-clip rows']]);
  });
});
