import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask, readVisJson } from 'cineseg';
import { hashFile, SessionStore } from '../../../engine/src/store/session-store.js';
import { readDicomCineInfo } from '../../../engine/src/source/dicom-cine-source.js';
import { clipFrames, writeUsCine } from '../../fixtures/dicom/make-us-cine.js';
import { CLIP_DIR, fixtureVis } from '../export/fixture-vis.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const N = 6;
let dir: string;
let db: string;
let sid: string;
let dicomSid: string;
let dicomSop: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-export-cli-'));
  db = join(dir, 'store.db');
  const vis = fixtureVis(N);
  const v = vis.videos[0]!;
  const store = SessionStore.open(db);
  const put = (sessionId: string) =>
    store.putMasks(
      sessionId,
      vis.annotations.flatMap((a) => a.segmentations.flatMap((s, t) => (s ? [{ objectId: a.object_id, frame: t, rle: s }] : []))),
    );
  // A session on the mp4 clip, and one on a DICOM copy of its first frames.
  const clip = store.upsertClip({ path: join(CLIP_DIR, 'clip.mp4'), contentHash: await hashFile(join(CLIP_DIR, 'clip.mp4')), width: v.width, height: v.height, numFrames: N, fps: v.fps });
  sid = store.createSession(clip.id).id;
  put(sid);
  const dcm = await writeUsCine(join(dir, 'us.dcm'), await clipFrames(join(CLIP_DIR, 'clip.mp4'), N), 'rle', { pixelSpacing: [0.3, 0.3] });
  dicomSop = dcm.sopInstanceUid;
  const info = await readDicomCineInfo(dcm.path);
  const dclip = store.upsertClip({ path: dcm.path, contentHash: await hashFile(dcm.path), width: info.width, height: info.height, numFrames: N, fps: info.fps, frameTimeMs: info.frameTimeMs, dicom: info.refs });
  dicomSid = store.createSession(dclip.id).id;
  put(dicomSid);
  store.destroy();
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cineseg export', () => {
  it('writes every format from a stored session', async () => {
    const outs: Record<string, string> = { vis: 'v.json', coco: 'c.json', png: 'png', nifti: 'n.nii.gz', 'dicom-seg': 's.dcm' };
    for (const [format, name] of Object.entries(outs)) {
      const r = await cineseg(['export', sid, '--format', format, '--store', db, '--out', join(dir, name)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`exported 3 object\\(s\\), \\d+ mask\\(s\\) over ${N} frames as ${format}`));
      expect(existsSync(join(dir, name))).toBe(true);
    }
    // The VIS export is the store's current masks.
    const back = readVisJson(join(dir, 'v.json'));
    const want = fixtureVis(N);
    for (const a of want.annotations) {
      const b = back.annotations.find((x) => x.object_id === a.object_id)!;
      a.segmentations.forEach((s, t) => expect(b.segmentations[t] ? decodeMask(b.segmentations[t]!) : null).toEqual(s ? decodeMask(s) : null));
    }
    expect(JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8')).images).toHaveLength(N);
  });

  it('a session on a DICOM clip exports a SEG that references it (no --source-dicom needed), and its pixel spacing reaches NIfTI', async () => {
    const r = await cineseg(['export', dicomSid, '--format', 'dicom-seg', '--store', db, '--out', join(dir, 'd.dcm')]);
    expect(r.code, r.stderr).toBe(0);
    const dump = execFileSync('dcmdump', ['+P', '0008,1155', join(dir, 'd.dcm')], { encoding: 'utf8' });
    expect(dump).toContain(dicomSop);
    const n = await cineseg(['export', dicomSid, '--format', 'nifti', '--store', db, '--out', join(dir, 'd.nii')]);
    expect(n.code, n.stderr).toBe(0);
    const hdr = readFileSync(join(dir, 'd.nii'));
    expect(hdr.readFloatLE(80)).toBeCloseTo(0.3, 6); // pixdim[1]
    expect(hdr.readFloatLE(88)).toBeCloseTo(40, 6); // pixdim[3] = Frame Time
  });

  it('exports a masks.json file without a store', async () => {
    const f = join(dir, 'm.json');
    writeFileSync(f, JSON.stringify(fixtureVis(2)));
    const r = await cineseg(['export', f, '--format', 'coco', '--out', join(dir, 'm-coco.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'm-coco.json'), 'utf8')).images).toHaveLength(2);
  });

  it('--list shows the stored sessions with how many frames have masks', async () => {
    const r = await cineseg(['export', '--list', '--store', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^session\s+status\s+frames\s+objects\s+updated\s+clip/);
    expect(r.stdout).toMatch(new RegExp(`^${sid}\\s+open\\s+${N}/${N}\\s+3\\s+\\S+\\s+clip\\.mp4$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${dicomSid}\\s+open\\s+${N}/${N}\\s+3\\s+\\S+\\s+us\\.dcm$`, 'm'));
    const bare = await cineseg(['export', '--store', db]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^E_USAGE: /);
  });

  it('--object and --frames: only those objects, and masks of those frames (png writes only those frames)', async () => {
    const want = fixtureVis(N);
    const ids = want.annotations.map((a) => a.object_id);
    const r = await cineseg(['export', sid, '--format', 'vis', '--store', db, '--object', `${ids[0]},${ids[2]}`, '--frames', '1-3', '--out', join(dir, 'cut.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported 2 object\(s\)/);
    const cut = readVisJson(join(dir, 'cut.json'));
    expect(cut.annotations.map((a) => a.object_id)).toEqual([ids[0], ids[2]]);
    for (const a of cut.annotations) a.segmentations.forEach((s, t) => expect(s !== null && (t < 1 || t > 3)).toBe(false));
    expect(cut.annotations.some((a) => a.segmentations.slice(1, 4).some((s) => s !== null))).toBe(true);
    const png = await cineseg(['export', sid, '--format', 'png', '--store', db, '--frames', '2-3', '--out', join(dir, 'cut-png')]);
    expect(png.code, png.stderr).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(dir, 'cut-png')).sort()).toEqual(['frame_000002.png', 'frame_000003.png', 'labels.json']);
    const bad = await cineseg(['export', sid, '--format', 'vis', '--store', db, '--object', '999', '--out', join(dir, 'x.json')]);
    expect(bad.stderr).toMatch(/^E_EXPORT_FILTER: no object 999/m);
    const badRange = await cineseg(['export', sid, '--format', 'vis', '--store', db, '--frames', '4-2', '--out', join(dir, 'x.json')]);
    expect(badRange.stderr).toMatch(/^E_EXPORT_FILTER: /m);
  });

  it('coded errors: unknown session, unknown format', async () => {
    const a = await cineseg(['export', 'no-such-session', '--format', 'vis', '--store', db, '--out', join(dir, 'x.json')]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^E_SESSION_UNKNOWN: /);
    const b = await cineseg(['export', sid, '--format', 'tiff', '--store', db, '--out', join(dir, 'x.tif')]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^E_EXPORT_FORMAT: unknown format "tiff"/);
  });
});
