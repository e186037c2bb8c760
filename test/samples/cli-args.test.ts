import { describe, expect, it } from 'vitest';
import { DEFAULT_SEEDS, parseCliArgs, UsageError } from '../../samples/src/cli-args.js';

describe('cineseg-samples arguments', () => {
  it('defaults to the held-out set: both kinds, seeds 1,2,3, 480x360 at 30 fps, skip existing', () => {
    const o = parseCliArgs(['--out', 'samples/generated', '--quiet']);
    expect(o).toMatchObject({
      out: 'samples/generated',
      kinds: ['ultrasound', 'endoscopy'],
      seeds: [1, 2, 3],
      width: 480,
      height: 360,
      fps: 30,
      frames: undefined,
      skipExisting: true,
      checkReal: true,
      quiet: true,
      raw: false,
    });
    expect(DEFAULT_SEEDS.every((s) => s < 1000)).toBe(true);
  });

  it('reads seed ranges, kinds, sizes and switches', () => {
    const o = parseCliArgs([
      '--out',
      'x',
      '--kind',
      'endoscopy',
      '--seed-start',
      '1000',
      '--count',
      '4',
      '--frames',
      '12',
      '--size',
      '320x240',
      '--fps',
      '25',
      '--raw',
      '--no-skip-existing',
      '--no-real',
    ]);
    expect(o).toMatchObject({ kinds: ['endoscopy'], seeds: [1000, 1001, 1002, 1003], frames: 12, width: 320, height: 240, fps: 25, raw: true, skipExisting: false, checkReal: false });
    expect(parseCliArgs(['--out', 'x', '--seeds', '7, 9,1000']).seeds).toEqual([7, 9, 1000]);
    expect(parseCliArgs(['--out', 'x', '--exit-rate', '1']).exitRate).toBe(1);
    expect(parseCliArgs(['--out', 'x']).exitRate).toBeUndefined();
  });

  it.each([
    [[]],
    [['--out', 'x', '--kind', 'mri']],
    [['--out', 'x', '--seeds', '1,a']],
    [['--out', 'x', '--seeds', '1,1']],
    [['--out', 'x', '--seeds', '1', '--count', '2']],
    [['--out', 'x', '--size', '481x360']],
    [['--out', 'x', '--size', 'big']],
    [['--out', 'x', '--frames', '0']],
    [['--out', 'x', '--fps', '0']],
    [['--out', 'x', '--bogus']],
    [['--out', 'x', '--exit-rate', '1.5']],
    [['--out', 'x', '--exit-rate', 'often']],
  ])('rejects %j with a usage error', (argv) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
  });
});
