/**
 * Synthetic colonoscopy-like video: pink mucosa (multi-octave value noise, vessel ridges, folds)
 * seen through a circular field of view with vignetting, a moving camera (pan, zoom, roll), and
 * 1-2 raised polyps fixed to the tissue, shaded by the scope's light with specular highlights.
 * Polyps are evaluated analytically per pixel in world coordinates, and the same test decides the
 * ground-truth mask, so the mask is exactly the drawn polyp (clipped to the field of view).
 *
 * Why just over 500 lines: createEndoscopyScene is one closure over the scene's random streams,
 * drawn in a fixed order; the published default clips must stay byte for byte, so its parts are
 * not pulled apart into functions that would have to thread those streams through.
 */
import { fbm, valueNoise } from './noise.js';
import { hash2, hashString, Rng } from './prng.js';
import { blobRadius, defaultFrameCount, type BlobShape, type Category, type ClipSpec, type ObjectInfo, type RenderedFrame, type Scene } from './scene.js';
import { isDefaultSite, jitterTrack, siteFor, type Rgb } from './sites.js';
import { placeBubbles, placeDecoys, shadeBubble, type Bubble, type Decoy } from './site-extras.js';

const CATEGORIES: readonly Category[] = [{ id: 1, name: 'polyp', supercategory: 'lesion' }];

interface Polyp {
  info: ObjectInfo;
  shape: BlobShape; // world coordinates (angle/harmonics animated slightly)
  wobbleAmp: number;
  wobbleSpeed: number;
  color: Rgb;
  height: number; // dome height relative to radius; drives shading
  texSeed: number;
  /** Screen position of the centre on frame 0. */
  screen0: [number, number];
}

interface Camera {
  cx: number;
  cy: number;
  zoom: number;
  roll: number;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Shading factor of the contact shadow at normalised radius q (1 < q <= shadowReach) of a dome. */
function contactShadow(q: number, look: { shadowDepth: number; shadowWidth: number }): number {
  return 1 - look.shadowDepth * (1 - (q - 1) / look.shadowWidth);
}

/** Builds a deterministic endoscopy clip for `spec` (see {@link Scene}). */
export function createEndoscopyScene(spec: ClipSpec): Scene {
  const W = spec.width;
  const H = spec.height;
  const N = W * H;
  const root = new Rng(hashString(`endoscopy:${spec.seed}`));
  const frames = spec.frames ?? defaultFrameCount('endoscopy', spec.seed);
  const scale = H / 360; // keeps textures and sizes proportional when --size changes
  // The site's look (sites.ts); site 'a' holds the constants the default clips were made with.
  const look = siteFor(spec.site).endo;
  let jitter: Float64Array | null = null;
  if (look.jitter > 0) {
    const jr = root.fork('site:jitter');
    jitter = jitterTrack(() => jr.gauss(), frames, look.jitter);
  }

  // Camera path: smooth sums of sinusoids plus a slow drift; world units = pixels at zoom 1.
  const cam = root.fork('camera');
  const panAx = cam.range(0.05, 0.14) * W * look.pan;
  const panAy = cam.range(0.04, 0.1) * H * look.pan;
  const panWx = ((2 * Math.PI) / cam.range(50, 120)) * look.speed;
  const panWy = ((2 * Math.PI) / cam.range(50, 120)) * look.speed;
  const panPx = cam.range(0, 2 * Math.PI);
  const panPy = cam.range(0, 2 * Math.PI);
  const driftX = cam.range(-1, 1) * 0.0025 * W * look.speed;
  const driftY = cam.range(-1, 1) * 0.002 * H * look.speed;
  const zoom0 = cam.range(0.95, 1.15);
  const zoomAmp = cam.range(0.05, 0.18) * look.zoom;
  const zoomW = ((2 * Math.PI) / cam.range(60, 140)) * look.speed;
  const zoomP = cam.range(0, 2 * Math.PI);
  const roll0 = cam.range(-0.5, 0.5);
  const rollSpeed = cam.range(-0.008, 0.008) * look.roll * look.speed;
  const rollAmp = cam.range(0.02, 0.08) * look.roll;
  const rollW = 0.05 * look.speed;
  const cameraAt = (t: number): Camera => {
    const c: Camera = {
      cx: panAx * (Math.sin(panWx * t + panPx) - Math.sin(panPx)) + driftX * t,
      cy: panAy * (Math.sin(panWy * t + panPy) - Math.sin(panPy)) + driftY * t,
      zoom: zoom0 * (1 + zoomAmp * (Math.sin(zoomW * t + zoomP) - Math.sin(zoomP))),
      roll: roll0 + rollSpeed * t + rollAmp * Math.sin(rollW * t),
    };
    // A shaky scope (sites that have it): small per-frame offsets on top of the smooth path.
    if (jitter) {
      c.cx += jitter[t * 2]!;
      c.cy += jitter[t * 2 + 1]!;
    }
    return c;
  };
  const screenToWorld = (c: Camera, sx: number, sy: number): [number, number] => {
    const dx = (sx - W / 2) / c.zoom;
    const dy = (sy - H / 2) / c.zoom;
    const co = Math.cos(c.roll);
    const si = Math.sin(c.roll);
    return [c.cx + co * dx - si * dy, c.cy + si * dx + co * dy];
  };

  // Mucosa texture, precomputed once over the world area any frame can see.
  const tex = root.fork('texture');
  const seeds = [tex.u32() | 0, tex.u32() | 0, tex.u32() | 0, tex.u32() | 0, tex.u32() | 0];
  const reach = Math.hypot(W, H) / 2 / (zoom0 * (1 - 2 * zoomAmp)) + Math.hypot(2 * panAx, 2 * panAy) + Math.hypot(driftX, driftY) * frames + 8 + 6 * look.jitter;
  // One texel per TS world pixels: the mucosa is smooth at that scale (bilinear lookup hides
  // it) and the texture costs a quarter of full resolution to build.
  const TS = 2;
  const TW = Math.ceil((2 * reach) / TS) + 2;
  const TH = TW;
  const originX = (-TW * TS) / 2;
  const originY = (-TH * TS) / 2;
  const texR = new Float32Array(TW * TH);
  const texG = new Float32Array(TW * TH);
  const texB = new Float32Array(TW * TH);
  const texS = new Float32Array(TW * TH);
  const [lb, ld] = [look.base, look.deep];
  const base: [number, number, number] = [tex.range(lb[0][0], lb[0][1]), tex.range(lb[1][0], lb[1][1]), tex.range(lb[2][0], lb[2][1])];
  const deep: [number, number, number] = [tex.range(ld[0][0], ld[0][1]), tex.range(ld[1][0], ld[1][1]), tex.range(ld[2][0], ld[2][1])];
  const foldSpacing = tex.range(look.foldSpacing[0], look.foldSpacing[1]) * scale;
  const foldAngle = tex.range(0, Math.PI);
  const fa = Math.cos(foldAngle);
  const fb = Math.sin(foldAngle);
  for (let ty = 0; ty < TH; ty++) {
    for (let tx = 0; tx < TW; tx++) {
      const wx = (tx * TS + originX) / scale;
      const wy = (ty * TS + originY) / scale;
      const n1 = fbm(wx / look.patchScale, wy / look.patchScale, seeds[0]!, 4);
      const n2 = fbm(wx / look.grainScale, wy / look.grainScale, seeds[1]!, 2);
      const mixv = clamp01((n1 - 0.3) * 1.6);
      let r = base[0] + (deep[0] - base[0]) * mixv;
      let g = base[1] + (deep[1] - base[1]) * mixv;
      let b = base[2] + (deep[2] - base[2]) * mixv;
      // Fine mucosal grain.
      const grain = look.grainBase + look.grainAmp * n2;
      // Branching vessels: thin ridges of a warped noise field.
      const warp = fbm(wx / 60, wy / 60, seeds[2]!, 2) * 3;
      const ridge = 1 - Math.abs(2 * fbm(wx / look.vesselScale + warp, wy / look.vesselScale - warp, seeds[3]!, 3) - 1);
      // Vessels show only where the mucosa is thin (a second noise field gates them).
      const gate = clamp01((fbm(wx / 120, wy / 120, seeds[4]! ^ 0x5bd1e995, 2) - look.vesselGate) * 5);
      const vessel = clamp01((ridge - look.vesselThreshold) * 30) * gate;
      r = r * (1 - look.vesselDarken[0] * vessel);
      g = g * (1 - look.vesselDarken[1] * vessel);
      b = b * (1 - look.vesselDarken[2] * vessel);
      // Haustral folds: broad, irregular bands of shading.
      const fold = Math.sin((2 * Math.PI * (fa * wx + fb * wy + 60 * fbm(wx / 160, wy / 160, seeds[4]!, 3))) / (foldSpacing / scale));
      const shade = grain * (look.foldBase + look.foldAmp * fold);
      const i = ty * TW + tx;
      texR[i] = r * shade;
      texG[i] = g * shade;
      texB[i] = b * shade;
      // Wet sheen: sparse small glints on the fold crests.
      const glint = fold > 0.8 ? clamp01((valueNoise(wx / 5, wy / 5, seeds[1]! ^ 0x27d4eb2d) - look.glintThreshold) * 30) : 0;
      texS[i] = glint * (fold - 0.8) * 5;
    }
  }
  const sampleTex = (wx: number, wy: number, out: Float32Array): void => {
    let fx = (wx - originX) / TS;
    let fy = (wy - originY) / TS;
    if (fx < 0) fx = 0;
    if (fy < 0) fy = 0;
    if (fx > TW - 1.001) fx = TW - 1.001;
    if (fy > TH - 1.001) fy = TH - 1.001;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const ax = fx - ix;
    const ay = fy - iy;
    const i = iy * TW + ix;
    const w00 = (1 - ax) * (1 - ay);
    const w10 = ax * (1 - ay);
    const w01 = (1 - ax) * ay;
    const w11 = ax * ay;
    out[0] = texR[i]! * w00 + texR[i + 1]! * w10 + texR[i + TW]! * w01 + texR[i + TW + 1]! * w11;
    out[1] = texG[i]! * w00 + texG[i + 1]! * w10 + texG[i + TW]! * w01 + texG[i + TW + 1]! * w11;
    out[2] = texB[i]! * w00 + texB[i + 1]! * w10 + texB[i + TW]! * w01 + texB[i + TW + 1]! * w11;
    out[3] = texS[i]! * w00 + texS[i + 1]! * w10 + texS[i + TW]! * w01 + texS[i + TW + 1]! * w11;
  };

  // Circular field of view with hard edge (what the scope optics show).
  const fovR = (Math.hypot(W, H) / 2) * root.fork('fov').range(0.84, 0.92);
  const fovCx = W / 2;
  const fovCy = H / 2;
  const inFov = new Uint8Array(N);
  const vignette = new Float32Array(N);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = Math.hypot(x + 0.5 - fovCx, y + 0.5 - fovCy) / fovR;
      const i = y * W + x;
      inFov[i] = d <= 1 ? 1 : 0;
      vignette[i] = Math.max(0, look.vignette[0] - look.vignette[1] * d ** look.vignette[2]);
    }
  }

  // Polyps: placed so that on frame 0 each sits well inside the view, apart from each other.
  const pRng = root.fork('polyps');
  const count = pRng.float() < 0.55 ? 1 : 2;
  const polyps: Polyp[] = [];
  const cam0 = cameraAt(0);
  for (let k = 0; k < count; k++) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const ang = pRng.range(0, 2 * Math.PI);
      const rad = (pRng.range(0, 0.75) * Math.min(W, H)) / 2;
      const sx = W / 2 + rad * Math.cos(ang);
      const sy = H / 2 + rad * Math.sin(ang);
      const a = (pRng.range(look.polypSize[0], look.polypSize[1]) * H) / cam0.zoom;
      const [wx, wy] = screenToWorld(cam0, sx, sy);
      if (Math.hypot(sx - fovCx, sy - fovCy) + a * 1.4 * cam0.zoom > fovR * 0.92) continue;
      if (polyps.some((p) => Math.hypot(p.shape.cx - wx, p.shape.cy - wy) < (p.shape.a + a) * 1.35)) continue;
      const tint = pRng.range(0, 1);
      polyps.push({
        info: { id: k + 1, categoryId: 1 },
        shape: {
          cx: wx,
          cy: wy,
          a,
          b: a * pRng.range(0.7, 1),
          angle: pRng.range(0, Math.PI),
          harmonics: [
            [pRng.range(0.02, 0.08), pRng.range(0, 2 * Math.PI)],
            [pRng.range(0.01, 0.05), pRng.range(0, 2 * Math.PI)],
          ],
        },
        wobbleAmp: pRng.range(0.02, 0.06),
        wobbleSpeed: pRng.range(0.05, 0.15),
        // Polyps run redder or paler than the surrounding mucosa.
        color: tint < 0.5 ? look.polypColors[0] : look.polypColors[1],
        height: pRng.range(look.polypHeight[0], look.polypHeight[1]),
        texSeed: pRng.u32() | 0,
        screen0: [sx, sy],
      });
      break;
    }
    if (polyps.length !== k + 1) {
      // A second polyp that does not fit beside the first is left out.
      if (k > 0) break;
      throw new Error(`endoscopy seed ${spec.seed}: could not place a polyp in view`);
    }
  }
  const polypAt = (p: Polyp, t: number): BlobShape => ({
    ...p.shape,
    // Peristalsis: a slow breathing of size and outline.
    a: p.shape.a * (1 + p.wobbleAmp * Math.sin(p.wobbleSpeed * t)),
    b: p.shape.b * (1 + p.wobbleAmp * Math.sin(p.wobbleSpeed * t + 1.3)),
    harmonics: p.shape.harmonics.map(([amp, ph], j) => [amp, ph + 0.03 * (j + 1) * t] as const),
  });

  // The lumen: where the bowel continues away from the scope, little light returns, so a dark
  // region sits off-centre and wanders slowly. Of a ring of candidate spots it takes the one
  // farthest from every polyp, so the polyps are well lit on the prompt frame.
  const lumenRng = root.fork('lumen');
  const lumenDist = lumenRng.range(0.3, 0.42) * Math.min(W, H);
  const lumenStart = lumenRng.range(0, 2 * Math.PI);
  let lumenX0 = W / 2;
  let lumenY0 = H / 2;
  let lumenClear = -Infinity;
  for (let k = 0; k < 12; k++) {
    const ang = lumenStart + (2 * Math.PI * k) / 12;
    const x = W / 2 + lumenDist * Math.cos(ang);
    const y = H / 2 + lumenDist * Math.sin(ang);
    const clear = Math.min(...polyps.map((p) => Math.hypot(p.screen0[0] - x, p.screen0[1] - y) - p.shape.a * cam0.zoom));
    if (clear > lumenClear) {
      lumenClear = clear;
      lumenX0 = x;
      lumenY0 = y;
    }
  }
  const lumenSigma = lumenRng.range(0.16, 0.24) * Math.min(W, H);
  const lumenDepth = lumenRng.range(look.lumenDepth[0], look.lumenDepth[1]);
  const lumenWander = lumenRng.range(0.03, 0.08) * Math.min(W, H);
  const lumenW = (2 * Math.PI) / lumenRng.range(60, 120);
  const lumenPh = lumenRng.range(0, 2 * Math.PI);

  // Light comes from the scope tip, a little off-axis; fixed in screen space.
  const light = root.fork('light');
  const lx0 = light.range(-0.6, 0.6);
  const ly0 = light.range(-0.6, 0.6);
  const noiseSeed = light.u32() | 0;

  // Unlabelled site distractors on the tissue, kept clear of the polyps (site-extras.ts).
  const bubbles: Bubble[] =
    look.bubbles[1] > 0
      ? placeBubbles(
          root.fork('site:bubbles'),
          look.bubbles,
          polyps.map((p) => p.shape),
          cam0,
          W,
          H,
          fovR,
          scale,
          screenToWorld,
        )
      : [];
  const decoys: Decoy[] =
    look.decoys[1] > 0
      ? placeDecoys(
          root.fork('site:decoys'),
          look.decoys,
          polyps.map((p) => p.shape),
          look,
          cam0,
          W,
          H,
          fovR,
          screenToWorld,
        )
      : [];
  // Brightness and white balance per channel (null = untouched, the default).
  const channelGain = look.gain !== 1 || look.whiteBalance ? [0, 1, 2].map((ch) => look.gain * (look.whiteBalance?.[ch] ?? 1)) : null;

  const owner = new Uint8Array(N);
  const rgbF = new Float32Array(N * 3);
  const blurTmp = new Float32Array(N * 3);
  const px = new Float32Array(4);
  // Doubles, not Float32: the shading stays in full precision exactly as when it was inline.
  const shaded: [number, number, number, number] = [0, 0, 0, 0];

  function renderFrame(t: number): RenderedFrame {
    if (!Number.isInteger(t) || t < 0 || t >= frames) throw new RangeError(`frame ${t} outside 0..${frames - 1}`);
    const c = cameraAt(t);
    const lumenX = lumenX0 + lumenWander * (Math.sin(lumenW * t + lumenPh) - Math.sin(lumenPh));
    const lumenY = lumenY0 + lumenWander * (Math.cos(lumenW * t + lumenPh) - Math.cos(lumenPh));
    const lumenK = 1 / (lumenSigma * lumenSigma);
    const co = Math.cos(c.roll);
    const si = Math.sin(c.roll);
    const shapes = polyps.map((p) => polypAt(p, t));
    // Light direction in world orientation (screen light rotated with the camera roll).
    const lwx = co * lx0 - si * ly0;
    const lwy = si * lx0 + co * ly0;
    const ln = Math.hypot(lwx, lwy, 1);
    // Shades a raised dome (a polyp, or a site's look-alike bump) at a pixel into `shaded`
    // [r, g, b, specular], from the tissue colour (r, g, b) under it.
    const dome = (s: BlobShape, q: number, wx: number, wy: number, height: number, color: Rgb, texSeed: number, r: number, g: number, b: number): void => {
      // Dome surface: height sqrt(1 - q^2), normal from its gradient along the radius.
      const h = Math.sqrt(Math.max(0, 1 - q * q));
      const ux = (wx - s.cx) / s.a;
      const uy = (wy - s.cy) / s.b;
      const slope = (height * q) / Math.max(h, 0.15);
      const ql = Math.max(q, 1e-6);
      let nx = (ux / ql) * slope;
      let ny = (uy / ql) * slope;
      let nz = 1;
      const nn = Math.hypot(nx, ny, nz);
      nx /= nn;
      ny /= nn;
      nz /= nn;
      const lambert = Math.max(0, (nx * lwx + ny * lwy + nz) / ln);
      // Blinn-Phong with the viewer on the axis: half vector between light and (0,0,1).
      const hx = lwx / ln;
      const hy = lwy / ln;
      const hz = 1 / ln + 1;
      const hn = Math.hypot(hx, hy, hz);
      const nh = Math.max(0, (nx * hx + ny * hy + nz * hz) / hn);
      shaded[3] = Math.pow(nh, look.specExp) * look.specGain;
      const pit = look.pitBase + look.pitAmp * valueNoise(wx / (look.pitScale * scale), wy / (look.pitScale * scale), texSeed);
      const tone = (look.ambient + look.diffuse * lambert) * pit;
      shaded[0] = (look.tissueShare * r + look.colorShare * color[0]) * tone;
      shaded[1] = (look.tissueShare * g + look.colorShare * color[1]) * tone;
      shaded[2] = (look.tissueShare * b + look.colorShare * color[2]) * tone;
      if (look.softBorder > 0) {
        // A soft border: toward the outline the dome blends into the mucosa (a step remains at q = 1).
        const e = 0.45 * smoothstep(1 - look.softBorder, 1, q);
        shaded[0] += (r - shaded[0]!) * e;
        shaded[1] += (g - shaded[1]!) * e;
        shaded[2] += (b - shaded[2]!) * e;
      }
    };
    owner.fill(0);
    rgbF.fill(0);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!inFov[i]) continue;
        const dx = (x + 0.5 - W / 2) / c.zoom;
        const dy = (y + 0.5 - H / 2) / c.zoom;
        const wx = c.cx + co * dx - si * dy;
        const wy = c.cy + si * dx + co * dy;
        sampleTex(wx, wy, px);
        let r = px[0]!;
        let g = px[1]!;
        let b = px[2]!;
        let spec = px[3]!;
        for (let k = shapes.length - 1; k >= 0; k--) {
          const s = shapes[k]!;
          const reachK = Math.max(s.a, s.b) * 1.5;
          if (Math.abs(wx - s.cx) > reachK || Math.abs(wy - s.cy) > reachK) continue;
          const q = blobRadius(s, wx, wy);
          const p = polyps[k]!;
          if (q <= 1) {
            owner[i] = k + 1;
            dome(s, q, wx, wy, p.height, p.color, p.texSeed, r, g, b);
            [r, g, b, spec] = shaded;
            break;
          }
          if (q <= look.shadowReach) {
            // Contact shadow around the base of the dome (tissue, not the dome).
            const f = contactShadow(q, look);
            r *= f;
            g *= f;
            b *= f;
          }
        }
        // Site distractors, only on tissue: look-alike bumps (no mask) and air bubbles.
        for (let k = 0; k < decoys.length && owner[i] === 0; k++) {
          const d = decoys[k]!;
          if (Math.abs(wx - d.shape.cx) > d.reach || Math.abs(wy - d.shape.cy) > d.reach) continue;
          const q = blobRadius(d.shape, wx, wy);
          if (q <= 1) {
            dome(d.shape, q, wx, wy, d.height, d.color, d.texSeed, r, g, b);
            [r, g, b, spec] = shaded;
            break;
          }
          if (q <= look.shadowReach) {
            // Contact shadow around the base of the dome (tissue, not the dome).
            const f = contactShadow(q, look);
            r *= f;
            g *= f;
            b *= f;
          }
        }
        if (bubbles.length > 0 && owner[i] === 0) {
          shaded[0] = r;
          shaded[1] = g;
          shaded[2] = b;
          shaded[3] = spec;
          for (const bu of bubbles) shadeBubble(bu, wx, wy, shaded);
          [r, g, b, spec] = shaded;
        }
        const lx = x + 0.5 - lumenX;
        const ly = y + 0.5 - lumenY;
        const v = vignette[i]! * (1 - lumenDepth * Math.exp(-(lx * lx + ly * ly) * lumenK));
        const j = i * 3;
        rgbF[j] = r * v + spec;
        rgbF[j + 1] = g * v + spec;
        rgbF[j + 2] = b * v + spec;
      }
    }
    // Mild optical blur ([1,2,1] horizontally, then vertically) inside the field of view, then
    // quantise with a little per-pixel sensor noise. Masks stay the geometric truth.
    const stride = W * 3;
    // Sites with a softer focus run extra full passes first; a sharp site (0 passes) skips both.
    for (let pass = 1; pass < look.blurPasses; pass++) {
      blurRows(rgbF, blurTmp);
      blurCols(blurTmp, rgbF);
    }
    if (look.blurPasses > 0) blurRows(rgbF, blurTmp);
    else blurTmp.set(rgbF);
    const sharp = look.blurPasses === 0;
    const rgb = new Uint8Array(N * 3);
    const frameSeed = (noiseSeed ^ Math.imul(t + 1, 0x9e3779b1)) | 0;
    for (let y = 0; y < H; y++) {
      const up = y > 0 && !sharp ? -stride : 0;
      const down = y < H - 1 && !sharp ? stride : 0;
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!inFov[i]) continue;
        const noise = (hash2(x, y, frameSeed) - 0.5) * look.noise;
        const j = i * 3;
        for (let ch = 0; ch < 3; ch++) {
          let v = (blurTmp[j + ch + up]! + 2 * blurTmp[j + ch]! + blurTmp[j + ch + down]!) * 0.25;
          if (channelGain) v *= channelGain[ch]!;
          v = v + noise;
          rgb[j + ch] = Math.round(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
        }
      }
    }
    const masks = polyps.map((_, k) => {
      const m = new Uint8Array(N);
      for (let i = 0; i < N; i++) if (owner[i] === k + 1) m[i] = 1;
      return m;
    });
    return { rgb, masks };
  }

  // One [1,2,1] pass along rows (src -> dst) or along columns, edges clamped.
  function blurRows(src: Float32Array, dst: Float32Array): void {
    const stride = W * 3;
    for (let y = 0; y < H; y++) {
      const row = y * stride;
      for (let x = 0; x < W; x++) {
        const j = row + x * 3;
        const l = x > 0 ? j - 3 : j;
        const r = x < W - 1 ? j + 3 : j;
        dst[j] = (src[l]! + 2 * src[j]! + src[r]!) * 0.25;
        dst[j + 1] = (src[l + 1]! + 2 * src[j + 1]! + src[r + 1]!) * 0.25;
        dst[j + 2] = (src[l + 2]! + 2 * src[j + 2]! + src[r + 2]!) * 0.25;
      }
    }
  }
  function blurCols(src: Float32Array, dst: Float32Array): void {
    const stride = W * 3;
    for (let j = 0; j < N * 3; j++) {
      const up = j >= stride ? j - stride : j;
      const down = j + stride < N * 3 ? j + stride : j;
      dst[j] = (src[up]! + 2 * src[j]! + src[down]!) * 0.25;
    }
  }

  return {
    spec: { kind: 'endoscopy', seed: spec.seed, width: W, height: H, frames, fps: spec.fps, ...(isDefaultSite(spec.site) ? {} : { site: spec.site }) },
    objects: polyps.map((p) => p.info),
    categories: CATEGORIES,
    fieldOfView: inFov.slice(),
    dropouts: [],
    promptFrame: 0,
    renderFrame,
  };
}
