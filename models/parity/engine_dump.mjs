// Engine side of the end-to-end parity check (models/parity/run_parity.py drives it).
// Runs a prompt/propagate scenario through the cineseg engine (ONNX via onnxruntime-node, the
// built engine in engine/dist) and dumps, byte for byte, what the reference needs to replay it:
// the S x S rgb frames the engine tracked, and every low-res logit map it produced.
//
//   npm run build -w engine
//   node models/parity/engine_dump.mjs --bundle DIR --video clip.mp4 --scenario s.json --out DIR [--ep cpu] [--threads N]
//
// scenario.json: {"frames": N, "steps": [
//   {"op": "points", "frame": 0, "obj": 1, "points": [[x, y, label], ...]},   (video pixels)
//   {"op": "mask", "frame": 0, "obj": 2, "png": "mask.png"},
//   {"op": "propagate", "start": null | f, "reverse": false} ]}
// Output in --out: frames.u8 [N, S, S, 3]; video.json; step-K.f32 per step: prompt steps hold the
// prompted object's [L, L] logits, propagate steps [visited, objects, L, L] in visit order
// (objects in the order they were added); steps.json lists orders, objects and timings.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
const { values: a } = parseArgs({
  options: {
    bundle: { type: 'string' },
    video: { type: 'string' },
    scenario: { type: 'string' },
    out: { type: 'string' },
    ep: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    // Pre-decoded frames instead of --video (machines without ffmpeg): S x S rgb24, frame-major.
    'frames-u8': { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
  },
});
for (const k of ['bundle', 'scenario', 'out']) if (!a[k]) throw new Error(`--${k} is required`);
if (!a.video && !a['frames-u8']) throw new Error('--video or --frames-u8 is required');
const dist = process.env.CINESEG_ENGINE_DIST ?? ROOT + 'engine/dist/';
const { loadBundle } = await import(dist + 'model/bundle.js');
const { ModelSessions } = await import(dist + 'model/ort-sessions.js');
const { VideoTracker } = await import(dist + 'track/video-tracker.js');
const { readPngMask } = await import(dist + 'mask/png-mask.js');

/** Frames from a raw file, for machines without ffmpeg (the decoder modules need it). */
class RawFrames {
  constructor(file, S, maxFrames, width, height) {
    const buf = readFileSync(file);
    this.numFrames = Math.min(Math.floor(buf.length / (S * S * 3)), maxFrames);
    this.buf = buf;
    this.S = S;
    this.info = { width, height };
  }
  getFrame(i) {
    const n = this.S * this.S * 3;
    return Promise.resolve(new Uint8Array(this.buf.buffer, this.buf.byteOffset + i * n, n));
  }
  destroy() {}
}

const scenario = JSON.parse(readFileSync(a.scenario, 'utf8'));
const out = resolve(a.out);
mkdirSync(out, { recursive: true });
const bundle = loadBundle(a.bundle);
const S = bundle.imageSize;
const L = bundle.lowResMaskSize;
const sessions = await ModelSessions.create(bundle, { ep: a.ep, threads: Number(a.threads), log: (l) => console.error(l) });
const dec = a['frames-u8']
  ? new RawFrames(a['frames-u8'], S, scenario.frames, Number(a.width), Number(a.height))
  : await (await import(dist + 'track/decoded-frames.js')).DecodedFrames.open(a.video, S, { maxFrames: scenario.frames });
const N = dec.numFrames;
const W = dec.info.width;
const H = dec.info.height;
const frames = [];
for (let i = 0; i < N; i++) frames.push(Buffer.from(await dec.getFrame(i)));
writeFileSync(out + '/frames.u8', Buffer.concat(frames));
writeFileSync(out + '/video.json', JSON.stringify({ width: W, height: H, S, L, frames: N, ep: sessions.ep.ep, precision: bundle.precision }));

// The mask as the engine read it (W x H bytes), so the reference gets the very same pixels.
async function addMask(k, step) {
  const m = readPngMask(resolve(step.png)).mask;
  writeFileSync(`${out}/step-${k}.mask.u8`, m);
  return tracker.addMask(step.frame, step.obj, m);
}

const tracker = new VideoTracker(sessions, dec, { width: W, height: H });
const objects = [];
const steps = [];
for (const [k, step] of scenario.steps.entries()) {
  const t0 = performance.now();
  if (step.op === 'points' || step.op === 'mask') {
    if (!objects.includes(step.obj)) objects.push(step.obj);
    const o =
      step.op === 'points'
        ? await tracker.addPoints(step.frame, step.obj, step.points.map(([x, y, label]) => ({ x, y, label })))
        : await addMask(k, step);
    writeFileSync(`${out}/step-${k}.f32`, Buffer.from(o.predMasks.buffer, o.predMasks.byteOffset, L * L * 4));
    steps.push({ op: step.op, ms: performance.now() - t0 });
  } else if (step.op === 'propagate') {
    const order = [];
    const chunks = [];
    const opts = { reverse: !!step.reverse };
    if (step.start !== null && step.start !== undefined) opts.startFrame = step.start;
    for await (const f of tracker.propagate(opts)) {
      order.push(f.frame);
      for (const id of objects) {
        const o = f.objects.find((x) => x.objectId === id).output;
        chunks.push(Buffer.from(new Float32Array(o.predMasks.subarray(0, L * L)).buffer));
      }
    }
    writeFileSync(`${out}/step-${k}.f32`, Buffer.concat(chunks));
    const ms = performance.now() - t0;
    steps.push({ op: 'propagate', order, objects: [...objects], ms, msPerFrame: ms / Math.max(order.length, 1) });
    console.error(`step ${k}: propagate ${order.length} frames x ${objects.length} objects in ${(ms / 1000).toFixed(1)} s`);
  } else {
    throw new Error(`unknown op ${step.op}`);
  }
}
writeFileSync(out + '/steps.json', JSON.stringify({ steps, stats: tracker.stats }, null, 1));
tracker.destroy();
await sessions.destroy();
await dec.destroy();
