/**
 * The live picture store on a real folder: pictures are written per record and frame, the folder
 * stays under its bound by deleting the oldest pictures first (a record left empty goes), and what
 * an earlier run left counts against the bound when the store opens again.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivePictureStore, pictureName } from '../../../engine/src/server/live-picture-store.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-pictures-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fake JPEG of `n` bytes whose bytes say which frame it is. */
const jpeg = (frame: number, n = 1000) => new Uint8Array(n).fill(frame % 251);

function folderBytes(dir: string): number {
  let n = 0;
  for (const r of readdirSync(dir)) for (const f of readdirSync(join(dir, r))) n += statSync(join(dir, r, f)).size;
  return n;
}

describe('live picture store', () => {
  it('writes each frame as a file and prunes the oldest first, across records, within the bound', async () => {
    const dir = join(tmp, 'a');
    const store = new LivePictureStore({ dir, maxBytes: 10_500 });
    for (let f = 0; f < 8; f++) expect(store.put('rec-a', f, jpeg(f))).toBe(true);
    for (let f = 0; f < 6; f++) store.put('rec-b', 100 + f, jpeg(100 + f));
    await store.flush();
    // 14 pictures of 1000 bytes, room for 10: the four oldest (all of rec-a's first ones) went.
    expect(store.bytes).toBe(10_000);
    expect(store.counts).toMatchObject({ written: 14, pruned: 4, failed: 0 });
    expect(await store.frames('rec-a')).toEqual([4, 5, 6, 7]);
    expect(await store.frames('rec-b')).toEqual([100, 101, 102, 103, 104, 105]);
    expect(folderBytes(dir)).toBe(10_000);
    expect(existsSync(join(dir, 'rec-a', pictureName(3)))).toBe(false);
    expect(readFileSync(await store.path('rec-a', 7))).toEqual(Buffer.from(jpeg(7)));
    await expect(store.path('rec-a', 3)).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    // rec-a pruned away entirely: its folder goes with its last picture.
    for (let f = 0; f < 4; f++) store.put('rec-b', 200 + f, jpeg(f));
    await store.flush();
    expect(await store.records()).toEqual(['rec-b']);
    expect(existsSync(join(dir, 'rec-a'))).toBe(false);
    expect(folderBytes(dir)).toBeLessThanOrEqual(10_500);
  });

  it("exports a record's pictures (or a frame range) beside its masks", async () => {
    const store = new LivePictureStore({ dir: join(tmp, 'e') });
    for (let f = 10; f < 20; f++) store.put('rec', f, jpeg(f));
    const out = join(tmp, 'e-out');
    expect(await store.exportTo('rec', out, [12, 15])).toEqual([12, 13, 14, 15]);
    expect(readdirSync(out).sort()).toEqual([12, 13, 14, 15].map(pictureName));
    expect(readFileSync(join(out, pictureName(14)))).toEqual(Buffer.from(jpeg(14)));
    expect(await store.exportTo('none', join(tmp, 'e-none'))).toEqual([]);
  });

  it('refuses ids that are not plain record ids (no paths from requests)', async () => {
    const store = new LivePictureStore({ dir: join(tmp, 'b') });
    expect(store.put('../escape', 1, jpeg(1))).toBe(false);
    expect(store.put('rec', -1, jpeg(1))).toBe(false);
    await expect(store.path('../b', 1)).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    await store.flush();
    expect(readdirSync(join(tmp, 'b'))).toEqual([]);
  });

  it('counts what an earlier run left against the bound', async () => {
    const dir = join(tmp, 'c');
    const first = new LivePictureStore({ dir, maxBytes: 100_000 });
    for (let f = 0; f < 6; f++) first.put('old', f, jpeg(f));
    await first.flush();
    // Reopened with a smaller bound: the oldest of the earlier pictures go at once.
    const again = new LivePictureStore({ dir, maxBytes: 3_000 });
    expect(await again.frames('old')).toEqual([3, 4, 5]);
    expect(again.bytes).toBe(3_000);
    again.put('new', 0, jpeg(9));
    await again.flush();
    expect(await again.frames('old')).toEqual([4, 5]);
    expect(await again.frames('new')).toEqual([0]);
    expect(folderBytes(dir)).toBe(3_000);
  });
});
