/**
 * `cineseg export` run as a user runs it (the built CLI in a child process) on both store backends:
 * the sessions are written through one store object in this process, then listed and exported by
 * another process through `--store <file>` or `--store postgres://…` — what "export from any
 * machine" needs. A session whose DICOM clip is not on this machine still exports VIS, COCO and PNG
 * (nothing reads the clip), and says which file DICOM SEG needs.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from 'cineseg';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { startPostgres, type LocalPostgres } from '../../../engine/src/bench/local-postgres.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { approveSession } from '../../../engine/src/store/session-review.js';
import { hashFile } from '../../../engine/src/store/session-store.js';
import { readDicomCineInfo, type DicomCineInfo } from '../../../engine/src/source/dicom-cine-source.js';
import { clipFrames, writeUsCine } from '../../fixtures/dicom/make-us-cine.js';
import { CLIP_DIR, fixtureVis } from '../export/fixture-vis.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const N = 6;
const CLIP = join(CLIP_DIR, 'clip.mp4');
let dir: string;
let dicom: { path: string; sop: string; info: DicomCineInfo; hash: string };
let clipHash: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-export-cli-'));
  clipHash = await hashFile(CLIP);
  const dcm = await writeUsCine(join(dir, 'us.dcm'), await clipFrames(CLIP, N), 'rle', { pixelSpacing: [0.3, 0.3] });
  dicom = { path: dcm.path, sop: dcm.sopInstanceUid, info: await readDicomCineInfo(dcm.path), hash: await hashFile(dcm.path) };
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Written {
  sid: string;
  dicomSid: string;
  /** A session on a DICOM clip whose file is gone (as on a machine that does not have it). */
  awaySid: string;
  /** A session on a CT volume's axial view, also not on this machine. */
  volumeSid: string;
}

/** The fixture's masks as store input. */
function fixtureMasks() {
  return fixtureVis(N).annotations.flatMap((a) => a.segmentations.flatMap((s, t) => (s ? [{ objectId: a.object_id, frame: t, rle: s }] : [])));
}

/** Writes the three sessions through `store` (the AnnotationStore interface, either backend). */
async function writeSessions(store: AnnotationStore, sub: string): Promise<Written> {
  const v = fixtureVis(N).videos[0]!;
  const { info } = dicom;
  const clip = await store.upsertClip({ path: CLIP, contentHash: clipHash, width: v.width, height: v.height, numFrames: N, fps: v.fps });
  const sid = (await store.createSession(clip.id, { meta: { createdBy: 'ana' } })).id;
  await store.putMasks(sid, fixtureMasks());
  const dclip = await store.upsertClip({
    path: dicom.path,
    contentHash: dicom.hash,
    width: info.width,
    height: info.height,
    numFrames: N,
    fps: info.fps,
    frameTimeMs: info.frameTimeMs,
    dicom: info.refs,
  });
  const dicomSid = (await store.createSession(dclip.id)).id;
  await store.putMasks(dicomSid, fixtureMasks());
  await store.setSessionStatus(dicomSid, 'closed');
  await approveSession(store, dicomSid, 'ben');
  // The same DICOM content under a path this machine does not have: another hash, so another clip.
  const away = join(dir, sub, 'elsewhere', 'us.dcm');
  const aclip = await store.upsertClip({
    path: away,
    contentHash: 'f'.repeat(64),
    width: info.width,
    height: info.height,
    numFrames: N,
    fps: info.fps,
    frameTimeMs: info.frameTimeMs,
    dicom: info.refs,
  });
  const awaySid = (await store.createSession(aclip.id, { meta: { worker: 'w2' } })).id;
  await store.putMasks(awaySid, fixtureMasks());
  const vclip = await store.upsertClip({ path: `${join(dir, sub, 'elsewhere', 'ct.nii.gz')}#axial:liver`, contentHash: 'e'.repeat(64), width: v.width, height: v.height, numFrames: N, fps: 1 });
  const volumeSid = (await store.createSession(vclip.id)).id;
  await store.putMasks(volumeSid, fixtureMasks());
  return { sid, dicomSid, awaySid, volumeSid };
}

const backends = [
  { name: 'SQLite', start: async () => ({ spec: join(dir, 'store.db'), stop: async () => undefined }) },
  {
    name: 'PostgreSQL',
    start: async () => {
      const pg: LocalPostgres = await startPostgres();
      return { spec: pg.url, stop: () => pg.stop() };
    },
  },
];

describe.each(backends)('cineseg export on $name', ({ name, start }) => {
  let spec: string;
  let stop: () => Promise<void>;
  let w: Written;
  const sub = name.toLowerCase();

  beforeAll(async () => {
    mkdirSync(join(dir, sub), { recursive: true });
    ({ spec, stop } = await start());
    const store = await openStore(spec);
    try {
      w = await writeSessions(store, sub);
    } finally {
      await store.destroy();
    }
  }, 300_000);
  afterAll(async () => {
    await stop?.();
  }, 120_000);

  it('writes every format from a stored session, in another process', async () => {
    const outs: Record<string, string> = { vis: 'v.json', coco: 'c.json', png: 'png', nifti: 'n.nii.gz', 'dicom-seg': 's.dcm' };
    for (const [format, file] of Object.entries(outs)) {
      const out = join(dir, sub, file);
      const r = await cineseg(['export', w.sid, '--format', format, '--store', spec, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`exported 3 object\\(s\\), \\d+ mask\\(s\\) over ${N} frames as ${format}`));
      expect(existsSync(out)).toBe(true);
    }
    // The VIS export is the store's current masks.
    const back = readVisJson(join(dir, sub, 'v.json'));
    const want = fixtureVis(N);
    for (const a of want.annotations) {
      const b = back.annotations.find((x) => x.object_id === a.object_id)!;
      a.segmentations.forEach((s, t) => expect(b.segmentations[t] ? decodeMask(b.segmentations[t]!) : null).toEqual(s ? decodeMask(s) : null));
    }
    expect(JSON.parse(readFileSync(join(dir, sub, 'c.json'), 'utf8')).images).toHaveLength(N);
  });

  it('a session on a DICOM clip exports a SEG that references it (no --source-dicom needed), and its pixel spacing reaches NIfTI', async () => {
    const seg = join(dir, sub, 'd.dcm');
    const r = await cineseg(['export', w.dicomSid, '--format', 'dicom-seg', '--store', spec, '--out', seg]);
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('dcmdump', ['+P', '0008,1155', seg], { encoding: 'utf8' })).toContain(dicom.sop);
    const nii = join(dir, sub, 'd.nii');
    const n = await cineseg(['export', w.dicomSid, '--format', 'nifti', '--store', spec, '--out', nii]);
    expect(n.code, n.stderr).toBe(0);
    const hdr = readFileSync(nii);
    expect(hdr.readFloatLE(80)).toBeCloseTo(0.3, 6); // pixdim[1]
    expect(hdr.readFloatLE(88)).toBeCloseTo(40, 6); // pixdim[3] = Frame Time
  });

  it('a session whose clip is not on this machine: VIS, COCO, PNG and NIfTI from the store alone; DICOM SEG names the file it needs', async () => {
    for (const [format, file] of [
      ['vis', 'a.json'],
      ['coco', 'ac.json'],
      ['png', 'apng'],
      ['nifti', 'a.nii'],
    ] as const) {
      const r = await cineseg(['export', w.awaySid, '--format', format, '--store', spec, '--out', join(dir, sub, file)]);
      expect(r.code, `${format}: ${r.stderr}`).toBe(0);
    }
    expect(readdirSync(join(dir, sub, 'apng')).filter((f) => f.endsWith('.png'))).toHaveLength(N);
    expect(readFileSync(join(dir, sub, 'a.nii')).readFloatLE(80)).toBeCloseTo(0.3, 6);
    const seg = await cineseg(['export', w.awaySid, '--format', 'dicom-seg', '--store', spec, '--out', join(dir, sub, 'a.dcm')]);
    expect(seg.code).toBe(1);
    expect(seg.stderr).toMatch(/^E_INPUT_NOT_FOUND: the session's DICOM clip .*elsewhere\/us\.dcm is not on this machine.*--source-dicom/m);
    expect(existsSync(join(dir, sub, 'a.dcm'))).toBe(false);
    // With the source given (a copy of it here), the SEG is written and references it.
    const copy = join(dir, sub, 'copy.dcm');
    copyFileSync(dicom.path, copy);
    const ok = await cineseg(['export', w.awaySid, '--format', 'dicom-seg', '--store', spec, '--source-dicom', copy, '--out', join(dir, sub, 'a.dcm')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(execFileSync('dcmdump', ['+P', '0008,1155', join(dir, sub, 'a.dcm')], { encoding: 'utf8' })).toContain(dicom.sop);
    // A volume's NIfTI goes back into its voxel grid: without the volume here it says so, and
    // writes nothing rather than a file in another geometry. Its VIS needs nothing.
    const vol = await cineseg(['export', w.volumeSid, '--format', 'nifti', '--store', spec, '--out', join(dir, sub, 'v.nii')]);
    expect(vol.code).toBe(1);
    expect(vol.stderr).toMatch(/^E_INPUT_NOT_FOUND: nifti of a volume session .*elsewhere\/ct\.nii\.gz is not on this machine/m);
    expect(existsSync(join(dir, sub, 'v.nii'))).toBe(false);
    const visv = await cineseg(['export', w.volumeSid, '--format', 'vis', '--store', spec, '--out', join(dir, sub, 'vol.json')]);
    expect(visv.code, visv.stderr).toBe(0);
  });

  it('--list shows every stored session with its frames, objects and who made or approved it; --json the same as data', async () => {
    const r = await cineseg(['export', '--list', '--store', spec]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^session\s+status\s+frames\s+objects\s+updated\s+who\s+clip$/);
    expect(lines).toHaveLength(5);
    expect(r.stdout).toMatch(new RegExp(`^${w.sid}\\s+open\\s+${N}/${N}\\s+3\\s+\\S+\\s+ana\\s+clip\\.mp4$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${w.dicomSid}\\s+done\\s+${N}/${N}\\s+3\\s+\\S+\\s+-, approved by ben\\s+us\\.dcm$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${w.awaySid}\\s+open\\s+${N}/${N}\\s+3\\s+\\S+\\s+worker:w2\\s+us\\.dcm$`, 'm'));
    const j = await cineseg(['export', '--list', '--json', '--store', spec]);
    expect(j.code, j.stderr).toBe(0);
    const rows = JSON.parse(j.stdout) as {
      id: string;
      status: string;
      clip: string;
      objects: number;
      maskedFrames: number;
      numFrames: number;
      createdBy: string | null;
      approvedBy: string | null;
      approvedAt: string | null;
      updatedAt: string;
    }[];
    expect(rows.map((x) => x.id).sort()).toEqual([w.sid, w.dicomSid, w.awaySid, w.volumeSid].sort());
    const d = rows.find((x) => x.id === w.dicomSid)!;
    expect(d).toMatchObject({ status: 'done', clip: dicom.path, objects: 3, maskedFrames: N, numFrames: N, createdBy: null, approvedBy: 'ben' });
    expect(Date.parse(d.approvedAt!)).toBeGreaterThan(0);
    expect(rows.find((x) => x.id === w.sid)).toMatchObject({ createdBy: 'ana', approvedBy: null, clip: CLIP });
    const bare = await cineseg(['export', '--store', spec]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^E_USAGE: /);
  });

  it('--object and --frames: only those objects, and masks of those frames (png writes only those frames)', async () => {
    const ids = fixtureVis(N).annotations.map((a) => a.object_id);
    const r = await cineseg(['export', w.sid, '--format', 'vis', '--store', spec, '--object', `${ids[0]},${ids[2]}`, '--frames', '1-3', '--out', join(dir, sub, 'cut.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported 2 object\(s\)/);
    const cut = readVisJson(join(dir, sub, 'cut.json'));
    expect(cut.annotations.map((a) => a.object_id)).toEqual([ids[0], ids[2]]);
    for (const a of cut.annotations) a.segmentations.forEach((s, t) => expect(s !== null && (t < 1 || t > 3)).toBe(false));
    expect(cut.annotations.some((a) => a.segmentations.slice(1, 4).some((s) => s !== null))).toBe(true);
    const png = await cineseg(['export', w.sid, '--format', 'png', '--store', spec, '--frames', '2-3', '--out', join(dir, sub, 'cut-png')]);
    expect(png.code, png.stderr).toBe(0);
    expect(readdirSync(join(dir, sub, 'cut-png')).sort()).toEqual(['frame_000002.png', 'frame_000003.png', 'labels.json']);
    const bad = await cineseg(['export', w.sid, '--format', 'vis', '--store', spec, '--object', '999', '--out', join(dir, sub, 'x.json')]);
    expect(bad.stderr).toMatch(/^E_EXPORT_FILTER: no object 999/m);
    const badRange = await cineseg(['export', w.sid, '--format', 'vis', '--store', spec, '--frames', '4-2', '--out', join(dir, sub, 'x.json')]);
    expect(badRange.stderr).toMatch(/^E_EXPORT_FILTER: /m);
  });

  it('coded errors: unknown session, unknown format', async () => {
    const a = await cineseg(['export', 'no-such-session', '--format', 'vis', '--store', spec, '--out', join(dir, sub, 'x.json')]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^E_SESSION_UNKNOWN: /);
    const b = await cineseg(['export', w.sid, '--format', 'tiff', '--store', spec, '--out', join(dir, sub, 'x.tif')]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^E_EXPORT_FORMAT: unknown format "tiff"/);
  });
});

describe('cineseg export without a store', () => {
  it('exports a masks.json file', async () => {
    const f = join(dir, 'm.json');
    writeFileSync(f, JSON.stringify(fixtureVis(2)));
    const r = await cineseg(['export', f, '--format', 'coco', '--out', join(dir, 'm-coco.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'm-coco.json'), 'utf8')).images).toHaveLength(2);
  });

  it('a missing store file is E_INPUT_NOT_FOUND and is not created; an unreachable PostgreSQL is E_STORE_UNAVAILABLE without its password', async () => {
    const missing = join(dir, 'no-such.db');
    const a = await cineseg(['export', '--list', '--store', missing]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^E_INPUT_NOT_FOUND: no store at .*no-such\.db/m);
    expect(existsSync(missing)).toBe(false);
    // Port 1 on loopback: nothing listens there.
    const b = await cineseg(['export', '--list', '--store', 'postgres://cineseg:s3cret@127.0.0.1:1/cineseg']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^E_STORE_UNAVAILABLE: /m);
    expect(b.stderr).not.toContain('s3cret');
  });
});
