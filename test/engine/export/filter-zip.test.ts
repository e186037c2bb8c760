/**
 * The export filter (objects, frame range) shared by `cineseg export` and the HTTP export, the
 * store-only zip writer checked by the system's unzip (CRC test, names, bytes), and `--label`
 * names turned into VIS categories.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportedFrames, filterVis, parseFrameRange, parseObjectList } from '../../../engine/src/export/filter.js';
import { applyObjectLabels, parseObjectLabels } from '../../../engine/src/export/object-labels.js';
import { zipStore } from '../../../engine/src/export/zip.js';
import { fixtureVis } from './fixture-vis.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-filter-zip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('export filter', () => {
  it('parses object lists and frame ranges, refusing malformed ones with E_EXPORT_FILTER', () => {
    expect(parseObjectList('1,3, 3')).toEqual([1, 3]);
    expect(parseFrameRange('10-40')).toEqual([10, 40]);
    expect(parseFrameRange('7')).toEqual([7, 7]);
    for (const bad of ['', '1,,2', 'a', '-1', '1.5']) expect(() => parseObjectList(bad)).toThrow(expect.objectContaining({ code: 'E_EXPORT_FILTER' }));
    for (const bad of ['', '5-2', '1-', 'x-3', '-4']) expect(() => parseFrameRange(bad)).toThrow(expect.objectContaining({ code: 'E_EXPORT_FILTER' }));
  });

  it('keeps the chosen objects and nulls masks outside the range, the length unchanged', () => {
    const vis = fixtureVis(6);
    const ids = vis.annotations.map((a) => a.object_id);
    const out = filterVis(vis, { objects: [ids[1]!], frames: [2, 3] });
    expect(out.annotations.map((a) => a.object_id)).toEqual([ids[1]]);
    expect(out.videos[0]!.length).toBe(6);
    const a = out.annotations[0]!;
    const src = vis.annotations[1]!;
    a.segmentations.forEach((s, t) => expect(s).toEqual(t === 2 || t === 3 ? src.segmentations[t] : null));
    expect(exportedFrames(out)).toEqual([2, 3]);
    // Categories of dropped objects leave; the input is untouched.
    expect(out.categories.every((c) => out.annotations.some((x) => x.category_id === c.id))).toBe(true);
    expect(vis.annotations).toHaveLength(ids.length);
    // The end is clamped to the clip; a start past it, or an object not there, is an error.
    expect(exportedFrames(filterVis(vis, { frames: [4, 99] }))).toEqual([4, 5]);
    expect(() => filterVis(vis, { frames: [6, 9] })).toThrow(/clip has 6 frames/);
    expect(() => filterVis(vis, { objects: [999] })).toThrow(/no object 999/);
    expect(filterVis(vis, {})).toBe(vis);
  });
});

describe('zipStore', () => {
  it('writes an archive unzip tests clean and unpacks byte for byte', () => {
    const files = [
      { name: 'frame_000000.png', data: new Uint8Array([137, 80, 78, 71, 1, 2, 3]) },
      { name: 'labels.json', data: Buffer.from('{"labels":[]}\n') },
      { name: 'sub/ünïcode.txt', data: new Uint8Array(70_000).map((_, i) => i % 251) },
      { name: 'empty.bin', data: new Uint8Array(0) },
    ];
    const zip = join(tmp, 'a.zip');
    writeFileSync(zip, zipStore(files, new Date(2026, 0, 2, 3, 4, 6)));
    expect(execFileSync('unzip', ['-t', zip], { encoding: 'utf8' })).toMatch(/No errors detected in compressed data/);
    const listing = execFileSync('unzip', ['-Z', '-1', zip], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toEqual(files.map((f) => f.name));
    expect(execFileSync('unzip', ['-l', zip], { encoding: 'utf8' })).toMatch(/2026-01-02 03:04/);
    const out = join(tmp, 'out');
    execFileSync('unzip', ['-q', zip, '-d', out]);
    for (const f of files) expect(new Uint8Array(readFileSync(join(out, f.name)))).toEqual(new Uint8Array(f.data));
    expect(() => zipStore([{ name: '../evil', data: new Uint8Array(1) }])).toThrow(/relative path/);
  });
});

describe('--label', () => {
  it('names objects in prompt order or by id; categories follow', () => {
    expect([...parseObjectLabels(['polyp', 'instrument'], [3, 1])]).toEqual([
      [3, 'polyp'],
      [1, 'instrument'],
    ]);
    expect([...parseObjectLabels(['2=vessel', 'polyp'], [1, 2])]).toEqual([
      [2, 'vessel'],
      [1, 'polyp'],
    ]);
    expect(() => parseObjectLabels(['a', 'b'], [1])).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => parseObjectLabels(['1=a', '1=b'], [1])).toThrow(/labelled twice/);
    expect(() => parseObjectLabels([' '], [1])).toThrow(/1-64 characters/);
    const vis = fixtureVis(4);
    const [o1, o2, o3] = vis.annotations.map((a) => a.object_id) as [number, number, number];
    const out = applyObjectLabels(
      vis,
      new Map([
        [o1, 'polyp'],
        [o3, 'polyp'],
        [o2, 'tool'],
      ]),
    );
    expect(out.categories).toEqual([
      { id: 1, name: 'polyp' },
      { id: 2, name: 'tool' },
    ]);
    expect(out.annotations.map((a) => [a.object_id, a.category_id])).toEqual([
      [o1, 1],
      [o2, 2],
      [o3, 1],
    ]);
  });
});
