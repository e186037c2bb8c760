import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { findBatchClips, findBatchInputs, formatBatchTable, readBatchList, readBatchPrompts, runBatch, samplePrompts, toStorePrompts } from '../../../engine/src/cli/batch-command.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { clipFrames, writeUsCine, type UsCineFixture } from '../../fixtures/dicom/make-us-cine.js';
import { GENERATED_DIR } from '../../global-setup.js';
import { testBundleDir } from '../model/test-bundle.js';
import { CLI, cineseg, ensureBuilt } from './track-helpers.js';

let dir: string;
let clips: string;
let dcm: UsCineFixture;
const DCM_FRAMES = 12;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-batch-'));
  clips = join(dir, 'clips');
  mkdirSync(clips);
  // A samples-layout folder (clip.mp4 + prompts.json) and a DICOM cine with no extension.
  symlinkSync(join(GENERATED_DIR, 'ultrasound-1'), join(clips, 'ultrasound-1'));
  dcm = await writeUsCine(join(clips, 'us-cine'), await clipFrames(join(GENERATED_DIR, 'ultrasound-3', 'clip.mp4'), DCM_FRAMES), 'jpeg');
  writeFileSync(join(clips, 'notes.txt'), 'not a clip');
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('batch prompts and clips', () => {
  it('finds video files, DICOM files by their preamble and sample folders', async () => {
    expect((await findBatchClips(clips)).map((c) => c.name)).toEqual(['ultrasound-1', 'us-cine']);
  });

  it('reads a list file: paths relative to it, sample folders by their name, URLs as given', async () => {
    const list = join(dir, 'list.txt');
    writeFileSync(list, `# clips of the study\nclips/ultrasound-1/clip.mp4\n\n${dcm.path}\nhttps://media.example/api/media/endo%20scope.mp4?token=abc\n`);
    expect(readBatchList(list)).toEqual([
      { name: 'ultrasound-1', path: join(clips, 'ultrasound-1', 'clip.mp4'), folder: join(clips, 'ultrasound-1') },
      { name: 'us-cine', path: dcm.path },
      { name: 'endo scope', path: 'https://media.example/api/media/endo%20scope.mp4?token=abc' },
    ]);
    expect((await findBatchInputs(list)).map((c) => c.name)).toEqual(['ultrasound-1', 'us-cine', 'endo scope']);
    // Clips at URLs are for queue workers; a batch here says so before loading anything.
    await expect(runBatch({ folder: list, out: join(dir, 'list-out'), store: join(dir, 'list.db'), model: testBundleDir() })).rejects.toMatchObject({ code: 'E_USAGE' });
    writeFileSync(list, 'clips/missing.mp4\n');
    expect(() => readBatchList(list)).toThrow(expect.objectContaining({ code: 'E_INPUT_NOT_FOUND' }));
    // Without --queue, --out is required and the queue's options are refused.
    const noOut = await cineseg(['batch', clips]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/^E_USAGE: .*--out <dir>/);
    const noWait = await cineseg(['batch', clips, '--out', join(dir, 'x'), '--no-wait']);
    expect(noWait.stderr).toMatch(/^E_USAGE: --no-wait and --batch-key go with --queue/);
  });

  it('reads the prompts file format and the samples prompts.json', () => {
    const f = join(dir, 'p.json');
    writeFileSync(
      f,
      JSON.stringify({
        a: [
          { object: 1, frame: 0, point: [5, 6] },
          { object: 1, frame: 0, point: [9, 9], label: 0 },
          { object: 1, frame: 0, box: [1, 2, 30, 40] },
          { object: 2, frame: 3, box: [0, 0, 4, 4] },
        ],
      }),
    );
    const p = readBatchPrompts(f).get('a')!;
    expect(toStorePrompts(p, 64, 48)).toEqual([
      {
        objectId: 1,
        frame: 0,
        kind: 'points',
        points: [
          { x: 5, y: 6, label: 1 },
          { x: 9, y: 9, label: 0 },
        ],
        box: [1, 2, 30, 40],
      },
      { objectId: 2, frame: 3, kind: 'box', box: [0, 0, 4, 4] },
    ]);
    writeFileSync(f, JSON.stringify({ a: [{ object: 1, frame: 0, point: [5, 6], box: [1, 1, 2, 2] }] }));
    expect(() => readBatchPrompts(f)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    const s = samplePrompts(join(GENERATED_DIR, 'ultrasound-1'), 'mask')!;
    expect(s.length).toBeGreaterThan(0);
    expect(s[0]!.mask).toMatch(/mask-obj1-f0\.png$/);
  });
});

describe('cineseg batch', () => {
  it('tracks every clip into the store, exports each, and a second run skips them', async () => {
    const store = join(dir, 'batch.db');
    const out = join(dir, 'out');
    const prompts = join(dir, 'prompts.json');
    writeFileSync(prompts, JSON.stringify({ 'us-cine': [{ object: 4, frame: 2, point: [240, 180] }] }));
    const acks: number[] = [];
    const rows = await runBatch({
      folder: clips,
      out,
      prompts,
      samplePrompt: 'mask',
      store,
      model: testBundleDir(),
      threads: 1,
      formats: ['vis', 'dicom-seg'],
      onCommit: (_c, recs) => acks.push(...recs.map((r) => r.id)),
    });
    expect(rows.map((r) => [r.clip, r.status, r.frames])).toEqual([
      ['ultrasound-1', 'done', 90],
      ['us-cine', 'done', DCM_FRAMES],
    ]);
    // ultrasound-1 has two objects over 90 frames; the cine one object over 12 (forward from 2, then back).
    expect(acks).toHaveLength(2 * 90 + DCM_FRAMES);
    const s = SessionStore.open(store, { readonly: true });
    try {
      const cine = s.listSessions().find((x) => x.meta.clip === 'us-cine')!;
      expect(cine.status).toBe('done');
      const loaded = s.loadSession(cine.id);
      expect(loaded.clip.dicom?.sopInstanceUid).toBe(dcm.sopInstanceUid);
      expect(loaded.clip.frameTimeMs).toBe(40);
      expect(loaded.prompts).toMatchObject([{ kind: 'points', objectId: 4, frame: 2, points: [{ x: 240, y: 180, label: 1 }] }]);
      expect(s.completeFrames(cine.id)).toHaveLength(DCM_FRAMES);
      expect(s.integrityCheck()).toBe('ok');
    } finally {
      s.destroy();
    }
    const vis = readVisJson(join(out, 'us-cine', 'masks.json'));
    expect(vis.annotations.map((a) => a.object_id)).toEqual([4]);
    expect(vis.annotations[0]!.segmentations.every((x) => x !== null)).toBe(true);
    expect(execFileSync('dcmdump', ['+P', '0008,1155', join(out, 'us-cine', 'masks.seg.dcm')], { encoding: 'utf8' })).toContain(dcm.sopInstanceUid);
    expect(existsSync(join(out, 'ultrasound-1', 'masks.json'))).toBe(true);

    // The CLI on the same store and output: everything is already done.
    const r = await cineseg(['batch', clips, '--prompts', prompts, '--sample-prompt', 'mask', '--out', out, '--store', store, '--model', testBundleDir(), '--format', 'vis']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^clip\s+status\s+frames\s+objects\s+written\s+seconds/m);
    expect(r.stdout).toMatch(/^ultrasound-1\s+skipped\s+90\s+2\s+0/m);
    expect(r.stdout).toMatch(/2 clip\(s\): 0 done, 0 resumed, 2 skipped, 0 failed/);
    // Not a terminal: no progress bar escape codes.
    expect(r.stderr).not.toContain('\r');
  });

  it('draws overall and per-clip progress on a terminal', async () => {
    const only = join(dir, 'tty-clips');
    mkdirSync(only);
    symlinkSync(dcm.path, join(only, 'cine.dcm'));
    const prompts = join(dir, 'tty-prompts.json');
    writeFileSync(prompts, JSON.stringify({ '*': [{ object: 1, frame: 0, box: [200, 150, 280, 210] }] }));
    // util-linux `script` gives the child a pseudo-terminal, as a user's shell would.
    const cmd = [process.execPath, CLI, 'batch', only, '--prompts', prompts, '--out', join(dir, 'tty-out'), '--store', join(dir, 'tty.db'), '--model', testBundleDir(), '--threads', '1']
      .map((a) => `'${a}'`)
      .join(' ');
    const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout).toBe(0);
    // cli-progress redraws in place (cursor to column 1, no newline) on a terminal.
    expect(r.stdout).toContain('\x1b[1Gclips [');
    expect(r.stdout).toMatch(new RegExp(`cine \\[[#.]+\\] \\d+/${DCM_FRAMES}`));
    expect(r.stdout).toContain(`clips [${'#'.repeat(20)}] 1/1`);
    expect(r.stdout).toMatch(/1 clip\(s\): 1 done/);
  });

  it('a clip without prompts fails alone, with its code in the table', async () => {
    const rows = await runBatch({ folder: clips, out: join(dir, 'out2'), prompts: join(dir, 'none.json'), store: join(dir, 'b2.db'), model: testBundleDir() }).catch((e) => e);
    expect(rows).toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    const p = join(dir, 'only-a.json');
    writeFileSync(p, JSON.stringify({ nothing: [] }));
    mkdirSync(join(dir, 'c2'));
    symlinkSync(dcm.path, join(dir, 'c2', 'a.dcm'));
    const rows2 = await runBatch({ folder: join(dir, 'c2'), out: join(dir, 'out3'), prompts: p, store: join(dir, 'b3.db'), model: testBundleDir() });
    expect(rows2).toMatchObject([{ clip: 'a', status: 'failed' }]);
    expect(rows2[0]!.error).toMatch(/^E_USAGE: no prompts for clip "a"/);
    expect(formatBatchTable(rows2)).toMatch(/1 clip\(s\): 0 done, 0 resumed, 0 skipped, 1 failed/);
    expect(readFileSync(p, 'utf8')).toContain('nothing');
  });
});
