// Parity check, TypeScript tracker vs the PyTorch reference tracker (models/sam2/video.py, which
// matches Meta's SAM2VideoPredictor). Step 1: dump the S x S frames the engine decodes, the mask
// prompt at S, and the engine's low-res outputs (mask prompt and click prompt, 16 frames).
//   npm run build -w engine && node test/engine/track/parity/dump-engine.mjs models/tiny/work/random-bundle
//   /usr/bin/python3 test/engine/track/parity/compare-reference.py            (random weights, seed 0)
//   /usr/bin/python3 test/engine/track/parity/compare-reference.py <ckpt.pt>  (trained weights)
import { writeFileSync, mkdirSync } from 'node:fs';
const ROOT = new URL('../../../../', import.meta.url).pathname;
const OUT = process.env.PARITY_DIR ?? '/tmp/parity';
const { loadBundle } = await import(ROOT + 'engine/dist/model/bundle.js');
const { ModelSessions } = await import(ROOT + 'engine/dist/model/ort-sessions.js');
const { DecodedFrames } = await import(ROOT + 'engine/dist/track/decoded-frames.js');
const { VideoTracker } = await import(ROOT + 'engine/dist/track/video-tracker.js');
const { readPngMask } = await import(ROOT + 'engine/dist/mask/png-mask.js');
const { maskToModel } = await import(ROOT + 'engine/dist/track/prompts.js');
const dir = process.argv[2];
const N = 16;
// Another clip: PARITY_VIDEO, PARITY_MASK (png at video size), PARITY_POINT=x,y (video pixels).
const VIDEO = process.env.PARITY_VIDEO ?? ROOT + 'samples/real/aquarium.mp4';
const MASK = process.env.PARITY_MASK ?? ROOT + 'samples/real/aquarium-mask-frame0.png';
const [PX, PY] = (process.env.PARITY_POINT ?? '681,245').split(',').map(Number);
mkdirSync(OUT, { recursive: true });
const b = loadBundle(dir);
const s = await ModelSessions.create(b, { ep: 'cpu' });
const dec = await DecodedFrames.open(VIDEO, 256, { maxFrames: N });
const W = dec.info.width,
  H = dec.info.height;
const fr = [];
for (let i = 0; i < N; i++) fr.push(await dec.getFrame(i));
writeFileSync(OUT + '/frames.u8', Buffer.concat(fr.map((f) => Buffer.from(f))));
const m = readPngMask(MASK).mask;
writeFileSync(OUT + '/mask.f32', Buffer.from(maskToModel(m, W, H, 256).buffer));
for (const kind of ['mask', 'click']) {
  const t = new VideoTracker(s, dec, { width: W, height: H });
  if (kind === 'mask') await t.addMask(0, 1, m);
  else await t.addPoints(0, 1, [{ x: PX, y: PY }]);
  const outs = [];
  for await (const f of t.propagate()) outs.push(Buffer.from(f.objects[0].output.predMasks.buffer.slice(0)));
  writeFileSync(`${OUT}/ts-${kind}.f32`, Buffer.concat(outs));
}
await s.destroy();
await dec.destroy();
