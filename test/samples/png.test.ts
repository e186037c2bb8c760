import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeGrayPng } from '../../samples/src/png.js';
import { decodeGray } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cineseg-png-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('encodeGrayPng', () => {
  it.each([
    [1, 1],
    [7, 3],
    [64, 48],
    [301, 17],
  ])('%ix%i gray image decodes (ffmpeg) to the same pixels', (w, h) => {
    const px = new Uint8Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 3)) & 0xff;
    const file = join(dir, `g-${w}x${h}.png`);
    writeFileSync(file, encodeGrayPng(px, w, h));
    expect(Array.from(decodeGray(file))).toEqual(Array.from(px));
  });

  it('writes the PNG signature and an 8-bit grayscale header', () => {
    const png = encodeGrayPng(new Uint8Array(6), 3, 2);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(3);
    expect(png.readUInt32BE(20)).toBe(2);
    expect(png[24]).toBe(8);
    expect(png[25]).toBe(0);
  });

  it('rejects a pixel count that does not match the size', () => {
    expect(() => encodeGrayPng(new Uint8Array(5), 3, 2)).toThrow(expect.objectContaining({ code: 'E_MASK_INVALID' }));
  });
});
