import { describe, expect, it } from 'vitest';
import { hslToRgb, makeColorFor, objectColor, objectHue, parseHex } from '../../../player/src/overlay/colors.js';

/** Hue of an RGB colour in degrees (0 = red). */
function hueOf([r, g, b]: [number, number, number]): number {
  const mx = Math.max(r, g, b);
  const mn = Math.min(r, g, b);
  if (mx === mn) return 0;
  const d = mx - mn;
  const h = mx === r ? ((g - b) / d) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}
const hueDist = (a: number, b: number) => Math.min(Math.abs(a - b), 360 - Math.abs(a - b));

describe('object colours', () => {
  it('converts HSL like CSS does', () => {
    expect(hslToRgb(0, 1, 0.5)).toEqual([255, 0, 0]);
    expect(hslToRgb(120, 1, 0.5)).toEqual([0, 255, 0]);
    expect(hslToRgb(240, 1, 0.25)).toEqual([0, 0, 128]);
  });

  it('keeps every object off red and object 1 far from it', () => {
    for (let id = 1; id <= 200; id++) expect(hueDist(objectHue(id), 0)).toBeGreaterThanOrEqual(11);
    expect(hueDist(hueOf(objectColor(1)), 0)).toBeGreaterThan(90);
    for (let id = 1; id <= 6; id++) expect(hueDist(hueOf(objectColor(id)), 0)).toBeGreaterThan(20);
  });

  it('gives many objects distinct colours (no palette cycle)', () => {
    const seen = new Set<string>();
    for (let id = 1; id <= 64; id++) seen.add(objectColor(id).join(','));
    expect(seen.size).toBe(64);
    // The first 8: every pair at least 25 degrees of hue apart.
    for (let a = 1; a <= 8; a++) for (let b = a + 1; b <= 8; b++) expect(hueDist(objectHue(a), objectHue(b))).toBeGreaterThanOrEqual(25);
    expect(objectColor(9)).not.toEqual(objectColor(1));
  });

  it('colours labelled objects by class, others by id', () => {
    const colorFor = makeColorFor([{ name: 'polyp', color: '#22cc88' }, { name: 'Instrument' }]);
    expect(colorFor(1, 'polyp')).toEqual([0x22, 0xcc, 0x88]);
    expect(colorFor(7, ' Polyp ')).toEqual([0x22, 0xcc, 0x88]);
    expect(colorFor(2, 'instrument')).toEqual(colorFor(5, 'instrument'));
    expect(colorFor(2, 'instrument')).not.toEqual(objectColor(2));
    expect(colorFor(3, 'object 3')).toEqual(objectColor(3));
    expect(colorFor(3)).toEqual(objectColor(3));
    expect(parseHex('#abc')).toEqual([0xaa, 0xbb, 0xcc]);
    expect(parseHex('red')).toBeNull();
  });
});
