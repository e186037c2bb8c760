import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeGray, probe, REAL, sha256 } from './helpers.js';

// Facts stated in samples/real/SOURCES.md; this test keeps the table and the files in step.
const CLIPS = [
  { file: 'ultrasound-catheter.mp4', width: 800, height: 600, fps: '30/1', frames: 300 },
  { file: 'aquarium.mp4', width: 800, height: 360, fps: '30000/1001', frames: 227 },
  { file: 'bedroom.mp4', width: 960, height: 540, fps: '30/1', frames: 200 },
];

describe('committed real clips (samples/real)', () => {
  const sources = readFileSync(join(REAL, 'SOURCES.md'), 'utf8');

  it.each(CLIPS)('$file has the size, rate and frame count SOURCES.md states', (c) => {
    const p = probe(join(REAL, c.file));
    expect(p).toMatchObject({ width: c.width, height: c.height, fps: c.fps, frames: c.frames });
    expect(sources).toContain(`${c.width}x${c.height}`);
    expect(sources).toContain(c.file);
  });

  it('every file listed with a checksum matches it, and both licences are present', () => {
    const sums = [...sources.matchAll(/^([0-9a-f]{64})\s+(\S+)$/gm)];
    expect(sums.length).toBe(4);
    for (const [, sum, file] of sums) expect(sha256(readFileSync(join(REAL, file!))), file).toBe(sum);
    expect(existsSync(join(REAL, 'LICENSE-Apache-2.0.txt'))).toBe(true);
    expect(existsSync(join(REAL, 'LICENSE-ultrasound-catheter-MIT.txt'))).toBe(true);
  });

  it('the aquarium frame-0 mask is a binary 800x360 mask with a real object in it', () => {
    const px = decodeGray(join(REAL, 'aquarium-mask-frame0.png'));
    expect(px.length).toBe(800 * 360);
    let on = 0;
    let other = 0;
    for (const v of px) {
      if (v === 255) on++;
      else if (v !== 0) other++;
    }
    expect(other).toBe(0);
    expect(on).toBeGreaterThan(500);
    expect(on).toBeLessThan(800 * 360 * 0.5);
  });
});
