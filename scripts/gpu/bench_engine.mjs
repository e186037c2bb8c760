// Engine throughput on the GPU machine: frames per second of a whole tracking pass (decode,
// preprocessing, the four graphs, mask output) for 1..K objects, on one execution provider.
// Imports only the tracker's modules from engine/dist (they need onnxruntime-node alone), and
// decodes with a frame pipe: ffmpeg when the machine has it, else scripts/gpu/decode_frames.py
// (OpenCV), both writing S x S rgb24 frames to stdout, read as they arrive.
//
//   node scripts/gpu/bench_engine.mjs --bundle DIR --video clip.mp4 --ep webgpu --objects 1,8 --frames 60 [--out f.json]
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
const { values: a } = parseArgs({
  options: {
    bundle: { type: 'string' },
    video: { type: 'string' },
    ep: { type: 'string', default: 'cpu' },
    objects: { type: 'string', default: '1,8' },
    frames: { type: 'string', default: '60' },
    threads: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
const dist = process.env.CINESEG_ENGINE_DIST ?? ROOT + 'engine/dist/';
const { loadBundle } = await import(dist + 'model/bundle.js');
const { ModelSessions } = await import(dist + 'model/ort-sessions.js');
const { VideoTracker } = await import(dist + 'track/video-tracker.js');

function probe(video) {
  // Width/height/frames via OpenCV or ffprobe, whichever exists.
  const py = spawnSync('python3', ['-c', `import cv2,json;c=cv2.VideoCapture(${JSON.stringify(video)});print(json.dumps([int(c.get(3)),int(c.get(4)),int(c.get(7))]))`], { encoding: 'utf8' });
  if (py.status === 0) return JSON.parse(py.stdout);
  const ff = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=width,height,nb_read_packets', '-of', 'csv=p=0', video], { encoding: 'utf8' });
  return ff.stdout.trim().split(',').map(Number);
}

/** Sequential frames from a decoder child; getFrame(i) waits for frame i (kept once read). */
class PipeFrames {
  constructor(video, S, n) {
    this.numFrames = n;
    this.frameBytes = S * S * 3;
    this.frames = [];
    this.waiters = new Map();
    this.pending = Buffer.alloc(0);
    const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
    this.decoder = hasFfmpeg ? 'ffmpeg' : 'opencv';
    this.child = hasFfmpeg
      ? spawn('ffmpeg', ['-v', 'error', '-i', video, '-frames:v', String(n), '-vf', `scale=${S}:${S}:flags=bilinear`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'])
      : spawn('python3', [ROOT + 'scripts/gpu/decode_frames.py', video, String(S), String(n)]);
    this.child.stderr.pipe(process.stderr);
    this.child.stdout.on('data', (chunk) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= this.frameBytes) {
        const f = new Uint8Array(this.pending.subarray(0, this.frameBytes));
        this.pending = this.pending.subarray(this.frameBytes);
        const i = this.frames.length;
        this.frames.push(f);
        this.waiters.get(i)?.(f);
        this.waiters.delete(i);
      }
    });
  }
  getFrame(i) {
    if (this.frames[i]) return Promise.resolve(this.frames[i]);
    return new Promise((resolve) => this.waiters.set(i, resolve));
  }
  destroy() {
    this.child.kill();
  }
}

const bundle = loadBundle(a.bundle);
const S = bundle.imageSize;
const [W, H, total] = probe(a.video);
const n = Math.min(Number(a.frames), total || Number(a.frames));
const sessions = await ModelSessions.create(bundle, { ep: a.ep, threads: Number(a.threads), log: (l) => console.error(l) });
const results = [];
for (const k of a.objects.split(',').map(Number)) {
  // Warm-up pass (graph compilation, kernel selection, allocator growth) is not timed.
  for (const timed of [false, true]) {
    const frames = new PipeFrames(a.video, S, timed ? n : Math.min(4, n));
    const t0 = performance.now();
    const tracker = new VideoTracker(sessions, frames, { width: W, height: H });
    // K clicks on a grid over the middle of the frame, one object each.
    for (let o = 0; o < k; o++) {
      const gx = (o % 4) + 1;
      const gy = Math.floor(o / 4) + 1;
      await tracker.addPoints(0, o + 1, [{ x: Math.round((W * gx) / 5), y: Math.round((H * gy) / (Math.ceil(k / 4) + 1)) }]);
    }
    let visited = 0;
    const out = new Uint8Array(W * H);
    for await (const f of tracker.propagate()) {
      // Mask output at video size is part of the work a user gets.
      for (const o of f.objects) tracker.maskAt(f.frame, o.objectId, out);
      visited++;
    }
    const s = (performance.now() - t0) / 1000;
    tracker.destroy();
    frames.destroy();
    if (timed) {
      const r = { ep: sessions.ep.ep, requested: a.ep, precision: bundle.precision, imageSize: S, objects: k, frames: visited, seconds: s, fps: visited / s, decoder: frames.decoder };
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
}
await sessions.destroy();
if (a.out) writeFileSync(a.out, JSON.stringify(results, null, 1));
