import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportPng } from '../../../engine/src/export/png.js';
import { expectedLabelMap, fixtureVis, OVERLAP_ID } from './fixture-vis.js';

const dir = mkdtempSync(join(tmpdir(), 'cineseg-png-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PNG mask sequence export', () => {
  it('writes indexed PNGs that ffmpeg reads back as the same label values, frame by frame', () => {
    const vis = fixtureVis(8);
    const { width: W, height: H } = vis.videos[0]!;
    const meta = exportPng(vis, join(dir, 'seq'));
    expect(readdirSync(join(dir, 'seq')).filter((f) => f.endsWith('.png'))).toHaveLength(8);
    expect(meta.labels.map((l) => l.objectId)).toEqual([1, 2, OVERLAP_ID]);
    expect(JSON.parse(readFileSync(join(dir, 'seq', 'labels.json'), 'utf8')).labels).toEqual(meta.labels);
    // ffprobe sees 8-bit palette images, and ffmpeg's pal8 output gives the indices (then a
    // 1024-byte palette) per frame: an independent PNG decoder.
    const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=pix_fmt,width,height', '-of', 'json', join(dir, 'seq', 'frame_000000.png')], { encoding: 'utf8' });
    expect(JSON.parse(probe).streams[0]).toMatchObject({ pix_fmt: 'pal8', width: W, height: H });
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', join(dir, 'seq', 'frame_%06d.png'), '-f', 'rawvideo', '-pix_fmt', 'pal8', 'pipe:1'], { maxBuffer: 1 << 30 });
    const frameBytes = W * H + 1024;
    expect(raw.length).toBe(8 * frameBytes);
    let overlapSeen = false;
    for (let t = 0; t < 8; t++) {
      const got = raw.subarray(t * frameBytes, t * frameBytes + W * H);
      const want = expectedLabelMap(vis, t);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
      if (want.includes(3)) overlapSeen = true;
    }
    expect(overlapSeen).toBe(true);
  });

  it('embeds the value → object mapping in every frame', () => {
    exportPng(fixtureVis(2), join(dir, 'seq2'));
    const buf = readFileSync(join(dir, 'seq2', 'frame_000001.png'));
    const i = buf.indexOf('cineseg-labels');
    expect(i).toBeGreaterThan(0);
    const text = buf.subarray(i + 'cineseg-labels'.length + 1, buf.indexOf('IDAT') - 8).toString('latin1');
    expect(JSON.parse(text)).toEqual([
      { value: 1, object_id: 1, category_id: 2 },
      { value: 2, object_id: 2, category_id: 1 },
      { value: 3, object_id: OVERLAP_ID, category_id: 1 },
    ]);
  });
});
