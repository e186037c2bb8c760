/**
 * Pixel spacing of a DICOM cine, read from Pixel Spacing or — as ultrasound files state it — from
 * the Sequence of Ultrasound Regions (Physical Delta X/Y in cm), and sent to a live viewer of a
 * looped DICOM cine in sessionStarted (`pixelSpacingMm`), so the player can show areas in mm².
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { SessionStarted } from '../../../engine/src/protocol.js';
import { startServer } from '../../../engine/src/server/http-server.js';
import { readDicomCineInfo } from '../../../engine/src/source/dicom-cine-source.js';
import { clipFrames, writeUsCine } from '../../fixtures/dicom/make-us-cine.js';
import { GENERATED_DIR } from '../../global-setup.js';
import { testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP = join(GENERATED_DIR, 'ultrasound-1', 'clip.mp4');
let dir: string;
let src: { width: number; height: number; frames: Uint8Array[] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-live-spacing-'));
  src = await clipFrames(CLIP, 8);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rewrites a DICOM file with `extra` elements added to its dataset (dcmjs naturalized names). */
function addElements(path: string, extra: Record<string, unknown>, drop: string[] = []): void {
  const { DicomMessage, DicomMetaDictionary, DicomDict } = dcmjs.data;
  const buf = readFileSync(path);
  const parsed = DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const ds = DicomMetaDictionary.naturalizeDataset(parsed.dict) as Record<string, unknown>;
  for (const k of drop) delete ds[k];
  Object.assign(ds, extra);
  const out = new DicomDict(parsed.meta);
  out.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  writeFileSync(path, Buffer.from(out.write({ fragmentMultiframe: false })));
}

/** A B-mode region (cm on both axes) after a Doppler-like one (cm/s and s: not lengths). */
const REGIONS = [
  {
    RegionSpatialFormat: 3,
    RegionDataType: 3,
    RegionLocationMinX0: 0,
    RegionLocationMinY0: 0,
    RegionLocationMaxX1: 10,
    RegionLocationMaxY1: 10,
    PhysicalUnitsXDirection: 4,
    PhysicalUnitsYDirection: 7,
    PhysicalDeltaX: 0.01,
    PhysicalDeltaY: 0.5,
  },
  {
    RegionSpatialFormat: 1,
    RegionDataType: 1,
    RegionLocationMinX0: 0,
    RegionLocationMinY0: 0,
    RegionLocationMaxX1: 100,
    RegionLocationMaxY1: 100,
    PhysicalUnitsXDirection: 3,
    PhysicalUnitsYDirection: 3,
    PhysicalDeltaX: 0.025,
    PhysicalDeltaY: 0.02,
  },
];

describe('pixel spacing of a DICOM cine', () => {
  it('reads Pixel Spacing, else the ultrasound region in cm (as mm), else none', async () => {
    const withPs = await writeUsCine(join(dir, 'ps.dcm'), src, 'native', { pixelSpacing: [0.3, 0.35] });
    expect((await readDicomCineInfo(withPs.path)).refs.pixelSpacing).toEqual([0.3, 0.35]);

    const us = await writeUsCine(join(dir, 'us.dcm'), src, 'native');
    expect((await readDicomCineInfo(us.path)).refs.pixelSpacing).toBeUndefined();
    addElements(us.path, { SequenceOfUltrasoundRegions: REGIONS });
    const sp = (await readDicomCineInfo(us.path)).refs.pixelSpacing!;
    // Row spacing from Physical Delta Y, column spacing from Physical Delta X; cm → mm.
    expect(sp[0]).toBeCloseTo(0.2, 9);
    expect(sp[1]).toBeCloseTo(0.25, 9);

    const doppler = await writeUsCine(join(dir, 'doppler.dcm'), src, 'native');
    addElements(doppler.path, { SequenceOfUltrasoundRegions: [REGIONS[0]] });
    expect((await readDicomCineInfo(doppler.path)).refs.pixelSpacing).toBeUndefined();
  });

  it('sends the spacing of a looped DICOM cine to live viewers', async () => {
    const f = await writeUsCine(join(dir, 'live.dcm'), src, 'native');
    addElements(f.path, { SequenceOfUltrasoundRegions: [REGIONS[1]] });
    const sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
    const server = await startServer({ port: 0, sessions, media: [], cacheDir: join(dir, 'hls'), playerDir: dir, live: `loop:${f.path}`, liveGraceMs: 0 });
    try {
      const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
      const started = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
      expect(started.type).toBe('sessionStarted');
      expect(started.width).toBe(src.width);
      expect(started.pixelSpacingMm![0]).toBeCloseTo(0.2, 9);
      expect(started.pixelSpacingMm![1]).toBeCloseTo(0.25, 9);
      await c.close();
    } finally {
      await server.destroy();
      await sessions.destroy();
    }
  });
});
