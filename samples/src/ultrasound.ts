/**
 * Synthetic B-mode ultrasound: a sector (fan) scan on black with Rayleigh speckle, depth gain,
 * layered tissue, bright reflectors casting acoustic shadows, static dark look-alike blobs, and
 * 1-2 hypoechoic structures (vessel / cyst) that translate, pulse like a heartbeat, rotate and
 * deform. The structures are what the ground truth labels; the look-alikes are not, so a tracker
 * has to remember which dark blob it was given.
 */
import { boxBlur, fbm, standardise } from './noise.js';
import { hash2, hashString, Rng } from './prng.js';
import { blobBounds, blobRadius, defaultFrameCount, type BlobShape, type Category, type ClipSpec, type ObjectInfo, type RenderedFrame, type Scene } from './scene.js';
import { isDefaultSite, jitterTrack, siteFor, type Range } from './sites.js';

/** How often a clip has a structure that leaves the fan, unless the spec asks otherwise. */
export const DEFAULT_EXIT_RATE = 0.3;

const CATEGORIES: readonly Category[] = [
  { id: 1, name: 'vessel', supercategory: 'hypoechoic-structure' },
  { id: 2, name: 'cyst', supercategory: 'hypoechoic-structure' },
];

interface UsObject {
  info: ObjectInfo;
  x0: number;
  y0: number;
  ampX: number;
  ampY: number;
  wX: number;
  wY: number;
  phX: number;
  phY: number;
  vx: number;
  vy: number;
  a0: number;
  b0: number;
  angle0: number;
  spin: number;
  pulsePeriod: number;
  pulseAmp: number;
  pulsePhase: number;
  harmonics: Array<[number, number, number]>; // amplitude, phase, phase speed per frame
  innerLevel: number;
  rimWidth: number;
  rimBoost: number;
  dropout: [number, number] | null; // [first frame, frame after last]
  /** Per-frame (dx, dy) tremor for sites that have it; null keeps the default motion untouched. */
  jitter: Float64Array | null;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Heartbeat-like size modulation: a quick systolic swell, then rest. In [0, 1]. */
function pulse(t: number, period: number, phase: number): number {
  const ph = (((t / period + phase) % 1) + 1) % 1;
  if (ph >= 0.35) return 0;
  const s = Math.sin((Math.PI * ph) / 0.35);
  return s * s;
}

function shapeAt(o: UsObject, t: number): BlobShape {
  const s = 1 + o.pulseAmp * pulse(t, o.pulsePeriod, o.pulsePhase);
  const shape: BlobShape = {
    cx: o.x0 + o.ampX * Math.sin(o.wX * t + o.phX) - o.ampX * Math.sin(o.phX) + o.vx * t,
    cy: o.y0 + o.ampY * Math.sin(o.wY * t + o.phY) - o.ampY * Math.sin(o.phY) + o.vy * t,
    a: o.a0 * s,
    b: o.b0 * s,
    angle: o.angle0 + o.spin * t,
    harmonics: o.harmonics.map(([amp, ph, speed]) => [amp, ph + speed * t] as const),
  };
  if (o.jitter) {
    shape.cx += o.jitter[t * 2]!;
    shape.cy += o.jitter[t * 2 + 1]!;
  }
  return shape;
}

/** Builds a deterministic ultrasound clip for `spec` (see {@link Scene}). */
export function createUltrasoundScene(spec: ClipSpec): Scene {
  const W = spec.width;
  const H = spec.height;
  const root = new Rng(hashString(`ultrasound:${spec.seed}`));
  const frames = spec.frames ?? defaultFrameCount('ultrasound', spec.seed);
  // The site's look (sites.ts); site 'a' holds the constants the default clips were made with.
  const look = siteFor(spec.site).us;
  let jitter: Float64Array | null = null;
  if (look.jitter > 0) {
    const jr = root.fork('site:jitter');
    jitter = jitterTrack(() => jr.gauss(), frames, look.jitter);
  }

  // Sector geometry: apex just above the image, angles measured from straight down.
  const geo = root.fork('geometry');
  const apexX = W / 2 + geo.range(-0.02, 0.02) * W;
  const apexY = -0.06 * H;
  const rMin = 0.1 * H;
  const rMax = geo.range(0.98, 1.04) * H;
  const half = Math.min(geo.range(0.6, 0.72), Math.asin(Math.min(1, (W / 2 - 4) / rMax)) + 0.25);

  const N = W * H;
  const radius = new Float32Array(N);
  const theta = new Float32Array(N);
  const inFan = new Uint8Array(N);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const dx = x + 0.5 - apexX;
      const dy = y + 0.5 - apexY;
      const r = Math.sqrt(dx * dx + dy * dy);
      const th = Math.atan2(dx, dy);
      radius[i] = r;
      theta[i] = th;
      inFan[i] = r >= rMin && r <= rMax && Math.abs(th) <= half ? 1 : 0;
    }
  }
  const polarToXY = (r: number, th: number): [number, number] => [apexX + r * Math.sin(th), apexY + r * Math.cos(th)];
  // True when a disc of radius `rad` at (x, y) lies inside the fan with `margin` to spare.
  const discInFan = (x: number, y: number, rad: number, margin: number): boolean => {
    const dx = x - apexX;
    const dy = y - apexY;
    const r = Math.sqrt(dx * dx + dy * dy);
    const th = Math.atan2(dx, dy);
    return r - rad >= rMin + margin && r + rad <= rMax - margin && Math.abs(th) + Math.asin(Math.min(1, (rad + margin) / r)) <= half;
  };

  // Tissue echogenicity (before gain): textured layers curving with depth, a bright skin line,
  // and thin fibrous streaks.
  const tex = root.fork('texture');
  const s1 = tex.u32() | 0;
  const s2 = tex.u32() | 0;
  const s3 = tex.u32() | 0;
  const bandScale = tex.range(0.08, 0.13) * H;
  // Breathing moves the tissue (and everything in it) up and down under the fixed probe, so
  // tissue lives on a canvas M rows taller than the frame at each end; frame t shows canvas rows
  // starting at M - breath(t). Depth gain belongs to the probe and stays on the frame grid.
  const breathRng = root.fork('breathing');
  const breathAmp = breathRng.range(0.004, 0.012) * H * look.breath;
  const breathPeriod = breathRng.range(70, 130);
  const breathPhase = breathRng.range(0, 2 * Math.PI);
  const breath = (t: number): number => Math.round(breathAmp * (Math.sin((2 * Math.PI * t) / breathPeriod + breathPhase) - Math.sin(breathPhase)));
  const M = Math.ceil(2 * 0.012 * H * look.breath) + 1;
  const CH = H + 2 * M;
  const CN = W * CH;
  const cRadius = new Float32Array(CN);
  const cTheta = new Float32Array(CN);
  for (let yc = 0; yc < CH; yc++) {
    for (let x = 0; x < W; x++) {
      const dx = x + 0.5 - apexX;
      const dy = yc - M + 0.5 - apexY;
      cRadius[yc * W + x] = Math.sqrt(dx * dx + dy * dy);
      cTheta[yc * W + x] = Math.atan2(dx, dy);
    }
  }
  const tissue = new Float32Array(CN);
  const shadow = new Float32Array(CN).fill(1);
  const gain = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    if (!inFan[i]) continue;
    const d = (radius[i]! - rMin) / (rMax - rMin);
    const lateral = 1 - look.lateralFalloff * (Math.abs(theta[i]!) / half) ** 4;
    gain[i] = Math.exp(-look.attenuation * d) * (1 + 0.7 * d) * lateral;
  }
  for (let i = 0; i < CN; i++) {
    const x = (i % W) + 0.5;
    const y = Math.floor(i / W) - M + 0.5;
    const r = cRadius[i]!;
    let e = 0.62 + look.texAmp * (fbm(x / look.texScale[0], y / look.texScale[1], s1, 4) - 0.5);
    e += look.bandAmp * Math.sin(2 * Math.PI * (r / bandScale + 0.9 * fbm(x / 140, y / 110, s2, 2)));
    e += 0.9 * Math.exp(-(((r - rMin) / (0.025 * H)) ** 2));
    const ridge = 1 - Math.abs(2 * fbm(x / look.streakScale[0], y / look.streakScale[1], s3, 3) - 1);
    if (ridge > look.streakThreshold) e += (ridge - look.streakThreshold) * look.streakGain;
    tissue[i] = Math.max(0.05, e);
  }

  // The tracked structures. Positions are drawn in polar terms so they start well inside the fan.
  const objRng = root.fork('objects');
  const count = objRng.float() < 0.5 ? 1 : 2;
  const exitIndex = objRng.float() < (spec.exitRate ?? DEFAULT_EXIT_RATE) ? objRng.int(0, count - 1) : -1;
  const objects: UsObject[] = [];
  for (let k = 0; k < count; k++) {
    let placed: UsObject | undefined;
    for (let attempt = 0; attempt < 200 && !placed; attempt++) {
      const a0 = objRng.range(0.06, 0.1) * H;
      const b0 = a0 * objRng.range(0.5, 0.95);
      const rc = objRng.range(0.35, 0.72) * H;
      const thc = objRng.range(-0.6, 0.6) * half;
      const [x0, y0] = polarToXY(rc, thc);
      const harmonics: Array<[number, number, number]> = [
        [objRng.range(0.02, 0.07), objRng.range(0, 2 * Math.PI), objRng.range(-0.06, 0.06)],
        [objRng.range(0.01, 0.045), objRng.range(0, 2 * Math.PI), objRng.range(-0.08, 0.08)],
      ];
      const reach = a0 * 1.35;
      if (!discInFan(x0, y0, reach, 0.03 * H)) continue;
      if (objects.some((o) => Math.hypot(o.x0 - x0, o.y0 - y0) < (o.a0 * 1.3 + reach) * 1.6)) continue;
      const exits = k === exitIndex;
      const exitDir = x0 < apexX ? -1 : 1;
      const candidate: UsObject = {
        info: { id: k + 1, categoryId: b0 / a0 < 0.7 ? 1 : 2 },
        x0,
        y0,
        ampX: objRng.range(0.02, 0.06) * H * look.motionAmp,
        ampY: objRng.range(0.015, 0.04) * H * look.motionAmp,
        wX: ((2 * Math.PI) / objRng.range(40, 100)) * look.motionSpeed,
        wY: ((2 * Math.PI) / objRng.range(40, 100)) * look.motionSpeed,
        phX: objRng.range(0, 2 * Math.PI),
        phY: objRng.range(0, 2 * Math.PI),
        vx: exits ? exitDir * objRng.range(0.006, 0.009) * W : objRng.range(-0.0008, 0.0008) * H,
        vy: objRng.range(-0.0006, 0.0006) * H,
        a0,
        b0,
        angle0: objRng.range(0, Math.PI),
        spin: objRng.range(-0.015, 0.015),
        pulsePeriod: objRng.range(20, 32),
        pulseAmp: objRng.range(0.08, 0.18),
        pulsePhase: objRng.float(),
        harmonics,
        innerLevel: objRng.range(look.innerLevel[0], look.innerLevel[1]),
        rimWidth: objRng.range(look.rimWidth[0], look.rimWidth[1]),
        rimBoost: objRng.range(look.rimBoost[0], look.rimBoost[1]),
        dropout: null,
        jitter,
      };
      // Labelled structures never touch each other, so each one's outline stays visible.
      const collides = objects.some((o) => {
        for (let t = 0; t < frames; t += 2) {
          const p = shapeAt(o, t);
          const q = shapeAt(candidate, t);
          if (Math.hypot(p.cx - q.cx, p.cy - q.cy) < (Math.max(p.a, p.b) + Math.max(q.a, q.b)) * 1.15 + 0.02 * H) return true;
        }
        return false;
      });
      if (!collides) placed = candidate;
    }
    if (!placed) {
      // A second structure that cannot keep clear of the first is simply left out.
      if (k > 0) break;
      throw new Error(`ultrasound seed ${spec.seed}: could not place a structure in the fan`);
    }
    objects.push(placed);
  }
  // Brief loss of contrast (probe pressure, off-plane motion): the structure is still there and
  // still labelled, it just fades into the tissue for a few frames.
  if (objRng.float() < 0.5 && frames > 30) {
    const victim = objects[objRng.int(0, objects.length - 1)]!;
    const start = objRng.int(15, frames - 12);
    victim.dropout = [start, start + objRng.int(3, 6)];
  }

  // Where the structures travel, so static look-alikes and reflectors stay clear of them.
  const path: Array<[number, number, number]> = [];
  for (const o of objects) {
    for (let t = 0; t < frames; t += 3) {
      const s = shapeAt(o, t);
      path.push([s.cx, s.cy, Math.max(s.a, s.b) * 1.3]);
    }
  }
  const clearOfPath = (x: number, y: number, rad: number): boolean => path.every(([px, py, pr]) => Math.hypot(px - x, py - y) > pr + rad + 6);

  // Bright reflectors (calcification-like) with the acoustic shadow behind them.
  const refRng = root.fork('reflectors');
  const reflectors = refRng.int(1, 2);
  const reflectorSpots: Array<[number, number, number]> = [];
  const placeReflector = (refRng: Rng): void => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const rr = refRng.range(0.25, 0.6) * H;
      const thr = refRng.range(-0.75, 0.75) * half;
      const [x, y] = polarToXY(rr, thr);
      const lenR = refRng.range(0.008, 0.014) * H;
      const lenT = refRng.range(0.02, 0.04) * H;
      if (!clearOfPath(x, y, lenT)) continue;
      reflectorSpots.push([x, y, lenT]);
      const shadowHalf = (lenT * 0.9) / rr;
      const strength = refRng.range(0.75, 0.9);
      for (let i = 0; i < CN; i++) {
        const r = cRadius[i]!;
        const dth = cTheta[i]! - thr;
        const e = ((r - rr) / lenR) ** 2 + ((dth * r) / lenT) ** 2;
        if (e < 1) tissue[i] = tissue[i]! + 2.6 * (1 - e);
        if (r > rr + lenR * 0.5 && Math.abs(dth) < shadowHalf) {
          shadow[i] = shadow[i]! * (1 - strength * (1 - smoothstep(0.6 * shadowHalf, shadowHalf, Math.abs(dth))));
        }
      }
      return;
    }
  };
  for (let k = 0; k < reflectors; k++) placeReflector(refRng);
  // Site-only extras come from their own stream, after the default ones.
  const extraRefRng = root.fork('site:reflectors');
  for (let k = 0; k < look.extraReflectors; k++) placeReflector(extraRefRng);

  // Static hypoechoic look-alikes: same darkness and rim as the structures, never labelled.
  const disRng = root.fork('distractors');
  const placedBlobs: Array<[number, number, number]> = [...reflectorSpots];
  const distractors = disRng.int(1, 3);
  const placeLookalike = (disRng: Rng, levelR: Range, rimR: Range, boostR: Range): void => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const a = disRng.range(0.045, 0.09) * H;
      const shape: BlobShape = {
        cx: 0,
        cy: 0,
        a,
        b: a * disRng.range(0.5, 0.95),
        angle: disRng.range(0, Math.PI),
        harmonics: [[disRng.range(0.02, 0.07), disRng.range(0, 2 * Math.PI)]],
      };
      [shape.cx, shape.cy] = polarToXY(disRng.range(0.3, 0.85) * H, disRng.range(-0.8, 0.8) * half);
      if (!discInFan(shape.cx, shape.cy, a * 1.2, 0.01 * H) || !clearOfPath(shape.cx, shape.cy, a * 1.2)) continue;
      if (placedBlobs.some(([x, y, r]) => Math.hypot(x - shape.cx, y - shape.cy) < r + a * 1.3 + 6)) continue;
      placedBlobs.push([shape.cx, shape.cy, a * 1.3]);
      const level = disRng.range(levelR[0], levelR[1]);
      const rimQ = 1 + disRng.range(rimR[0], rimR[1]) / ((shape.a + shape.b) / 2);
      const boost = disRng.range(boostR[0], boostR[1]);
      const onCanvas: BlobShape = { ...shape, cy: shape.cy + M };
      const [bx0, by0, bx1, by1] = blobBounds(onCanvas, 6, W, CH);
      for (let y = by0; y <= by1; y++) {
        for (let x = bx0; x <= bx1; x++) {
          const i = y * W + x;
          const q = blobRadius(onCanvas, x + 0.5, y + 0.5);
          if (q <= 1) tissue[i] = level;
          else if (q <= rimQ) tissue[i] = tissue[i]! * boost;
        }
      }
      // Posterior enhancement behind fluid: brighter tissue below the blob.
      const rc = Math.hypot(shape.cx - apexX, shape.cy - apexY);
      const thc = Math.atan2(shape.cx - apexX, shape.cy - apexY);
      const span = Math.asin(Math.min(1, (shape.a * 0.8) / rc));
      for (let i = 0; i < CN; i++) {
        if (cRadius[i]! < rc) continue;
        const dth = Math.abs(cTheta[i]! - thc);
        if (dth < span) shadow[i] = shadow[i]! * (1 + 0.3 * (1 - smoothstep(0.5 * span, span, dth)));
      }
      return;
    }
  };
  for (let k = 0; k < distractors; k++) placeLookalike(disRng, look.lookalikeLevel, look.lookalikeRim, look.lookalikeBoost);
  const extraDisRng = root.fork('site:lookalikes');
  const extraLookalikes = look.extraLookalikes[1] > 0 ? extraDisRng.int(look.extraLookalikes[0], look.extraLookalikes[1]) : 0;
  for (let k = 0; k < extraLookalikes; k++) placeLookalike(extraDisRng, look.lookalikeLevel, look.lookalikeRim, look.lookalikeBoost);

  // Speckle: the magnitude of a spatially correlated complex Gaussian field (Rayleigh
  // distributed), elongated laterally like a real point-spread function. Rotating between two
  // independent fields decorrelates it slowly over time, as tissue motion does.
  const spRng = root.fork('speckle');
  const fields: Float32Array[] = [];
  for (let f = 0; f < 4; f++) {
    const g = new Float32Array(CN);
    for (let i = 0; i < CN; i++) g[i] = spRng.gauss();
    boxBlur(g, W, CH, look.speckleBlur[0], look.speckleBlur[1]);
    standardise(g);
    fields.push(g);
  }
  const [g1, g2, h1, h2] = fields as [Float32Array, Float32Array, Float32Array, Float32Array];
  const speckleDrift = spRng.range(look.speckleDrift[0], look.speckleDrift[1]);
  const rayleighMean = Math.sqrt(Math.PI / 2);
  const outScale = 1 / Math.log1p(look.compression * 1.6);
  const noiseSeed = root.fork('site:noise').u32() | 0;

  // Depth scale: small dots just right of the fan edge every tenth of the depth, as scanners draw.
  const markers: number[] = [];
  for (let k = 1; k < 10; k++) {
    const [mx, my] = polarToXY(rMin + ((rMax - rMin) * k) / 10, half + 0.035);
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const x = Math.floor(mx) + dx;
        const y = Math.floor(my) + dy;
        if (x >= 0 && y >= 0 && x < W && y < H && !inFan[y * W + x]) markers.push(y * W + x);
      }
    }
  }

  const work = new Float32Array(N);
  const owner = new Uint8Array(N);

  function renderFrame(t: number): RenderedFrame {
    if (!Number.isInteger(t) || t < 0 || t >= frames) throw new RangeError(`frame ${t} outside 0..${frames - 1}`);
    const shift = breath(t);
    const off = (M - shift) * W; // frame pixel i shows canvas pixel i + off
    for (let i = 0; i < N; i++) work[i] = tissue[i + off]!;
    owner.fill(0);
    for (let k = 0; k < objects.length; k++) {
      const o = objects[k]!;
      const own = shapeAt(o, t);
      // The structures ride on the breathing tissue as well as moving by themselves.
      const shape: BlobShape = { ...own, cy: own.cy + shift };
      const c = o.dropout && t >= o.dropout[0] && t < o.dropout[1] ? 0.12 : 1;
      const rimQ = 1 + o.rimWidth / ((shape.a + shape.b) / 2);
      const [bx0, by0, bx1, by1] = blobBounds(shape, o.rimWidth + 2, W, H);
      for (let y = by0; y <= by1; y++) {
        for (let x = bx0; x <= bx1; x++) {
          const i = y * W + x;
          if (!inFan[i]) continue;
          const q = blobRadius(shape, x + 0.5, y + 0.5);
          if (q <= 1) {
            owner[i] = k + 1;
            let inner = o.innerLevel;
            // A soft border: the inner edge fades toward the tissue, but still steps at the outline.
            if (look.softBorder > 0) inner += (tissue[i + off]! - inner) * 0.55 * smoothstep(1 - look.softBorder, 1, q);
            work[i] = tissue[i + off]! * 0.85 * (1 - c) + inner * c;
          } else if (q <= rimQ && owner[i] === 0) {
            work[i] = tissue[i + off]! * (1 + (o.rimBoost - 1) * c);
          }
        }
      }
      // Posterior acoustic enhancement below the fluid-filled structure.
      const rc = Math.hypot(shape.cx - apexX, shape.cy - apexY);
      const thc = Math.atan2(shape.cx - apexX, shape.cy - apexY);
      const span = Math.asin(Math.min(1, (Math.min(shape.a, shape.b) * 0.9) / Math.max(rc, 1)));
      for (let i = 0; i < N; i++) {
        if (!inFan[i] || radius[i]! < rc || owner[i] !== 0) continue;
        const dth = Math.abs(theta[i]! - thc);
        if (dth < span) work[i] = work[i]! * (1 + look.enhancement * c * (1 - smoothstep(0.5 * span, span, dth)));
      }
    }
    const cp = Math.cos(speckleDrift * t);
    const sp = Math.sin(speckleDrift * t);
    const rgb = new Uint8Array(N * 3);
    const frameSeed = (noiseSeed ^ Math.imul(t + 1, 0x9e3779b1)) | 0;
    for (let i = 0; i < N; i++) {
      if (!inFan[i]) continue;
      const ci = i + off;
      const re = g1[ci]! * cp + h1[ci]! * sp;
      const im = g2[ci]! * cp + h2[ci]! * sp;
      // Mostly speckle, with a little unmodulated echo, as compounding scanners show.
      const speckle = look.speckleFloor + (look.speckleShare * Math.sqrt((re * re + im * im) / 2)) / rayleighMean;
      let v = work[i]! * gain[i]! * shadow[ci]! * speckle;
      if (look.gain !== 1) v *= look.gain;
      let level = 255 * outScale * Math.log1p(look.compression * v);
      // Electronic noise (sites that have it): a triangular-distributed offset per pixel and frame.
      if (look.noise > 0) level += look.noise * 2.45 * (hash2(i, 1, frameSeed) + hash2(i, 2, frameSeed) - 1);
      const out = Math.min(255, Math.max(0, Math.round(level)));
      if (look.tint) {
        rgb[i * 3] = Math.min(255, Math.round(out * look.tint[0]));
        rgb[i * 3 + 1] = Math.min(255, Math.round(out * look.tint[1]));
        rgb[i * 3 + 2] = Math.min(255, Math.round(out * look.tint[2]));
        continue;
      }
      rgb[i * 3] = out;
      rgb[i * 3 + 1] = out;
      rgb[i * 3 + 2] = out;
    }
    for (const i of markers) {
      rgb[i * 3] = 200;
      rgb[i * 3 + 1] = 200;
      rgb[i * 3 + 2] = 200;
    }
    const masks = objects.map((_, k) => {
      const m = new Uint8Array(N);
      for (let i = 0; i < N; i++) if (owner[i] === k + 1) m[i] = 1;
      return m;
    });
    return { rgb, masks };
  }

  return {
    spec: {
      kind: 'ultrasound',
      seed: spec.seed,
      width: W,
      height: H,
      frames,
      fps: spec.fps,
      ...(spec.exitRate === undefined ? {} : { exitRate: spec.exitRate }),
      ...(isDefaultSite(spec.site) ? {} : { site: spec.site }),
    },
    objects: objects.map((o) => o.info),
    categories: CATEGORIES,
    fieldOfView: inFan.slice(),
    dropouts: objects.flatMap((o) => (o.dropout ? [{ objectId: o.info.id, start: o.dropout[0], end: o.dropout[1] }] : [])),
    promptFrame: 0,
    renderFrame,
  };
}
