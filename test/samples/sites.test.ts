import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCliArgs, UsageError } from '../../samples/src/cli-args.js';
import { clipDirName, createScene, writeClip, type GtFile } from '../../samples/src/clip-writer.js';
import type { ClipKind, Scene } from '../../samples/src/scene.js';
import { DEFAULT_SITE, SITE_NAMES, SITES, type Site } from '../../samples/src/sites.js';
import { edgeStrength, meanRgb, ringAround, sha256, shiftMask } from './helpers.js';

const W = 480;
const H = 360;
const KINDS: ClipKind[] = ['ultrasound', 'endoscopy'];
const OTHER_SITES = SITE_NAMES.filter((s) => s !== DEFAULT_SITE);
const scene = (kind: ClipKind, seed: number, site?: string, frames?: number): Scene =>
  createScene({ kind, seed, width: W, height: H, fps: 30, ...(frames ? { frames } : {}), ...(site === undefined ? {} : { site }) });

/** sha256 over frames 0, 17 and the last one of a scene: rgb then every mask, in order. */
function framesHash(s: Scene, frames: number[]): string {
  const parts: Uint8Array[] = [];
  for (const t of frames) {
    const f = s.renderFrame(t);
    parts.push(f.rgb, ...f.masks);
  }
  return sha256(Buffer.concat(parts));
}

// Computed with the generator as it was before sites existed (GENERATOR_VERSION 1.9.0). If one of
// these changes, the published default clips changed: that needs a GENERATOR_VERSION bump and new
// hashes, never a silent edit.
const BEFORE_SITES: Record<ClipKind, { frames: number; full: string; small: string }> = {
  ultrasound: {
    frames: 90,
    full: '04f3e6881b7dfba2d8da4bde554e7ed2e271d82f3bcababb702359afbd138890',
    small: 'd2dcd55e2de4b9e0b48ae626e2e5118441fc3b87d5aeedf63a7143c63b20e607',
  },
  endoscopy: {
    frames: 68,
    full: '609fa9d37f2107e26175022e91b5315c2c17703d86d214d3b93ef209b9f6154f',
    small: 'f3729de09b56a06608135d7d4765d38ebd5272b80ddc71625433c338bfe67fa0',
  },
};

describe('sites: the default look is unchanged', () => {
  it.each(KINDS)('%s seed 1 (480x360, frames 0, 17, last) and seed 1000 (160x120, 5 frames) render as before sites existed', (kind) => {
    const want = BEFORE_SITES[kind];
    for (const site of [undefined, DEFAULT_SITE]) {
      const s = scene(kind, 1, site);
      expect(s.spec.frames).toBe(want.frames);
      expect(s.spec.site).toBeUndefined();
      expect(framesHash(s, [0, 17, want.frames - 1]), `site ${site}`).toBe(want.full);
      const small = createScene({ kind, seed: 1000, width: 160, height: 120, fps: 30, frames: 5, ...(site ? { site } : {}) });
      expect(framesHash(small, [0, 1, 2, 3, 4]), `site ${site}`).toBe(want.small);
    }
  });
});

describe('sites: other sites look different, label the same way', () => {
  it('there are at least four non-default sites, each described for both kinds', () => {
    expect(OTHER_SITES.length).toBeGreaterThanOrEqual(4);
    for (const name of SITE_NAMES) {
      expect(SITES[name]!.name).toBe(name);
      expect(SITES[name]!.ultrasound.length).toBeGreaterThan(20);
      expect(SITES[name]!.endoscopy.length).toBeGreaterThan(20);
      expect(name).not.toContain('-'); // folder names are split on '-'
    }
  });

  it('the README table lists every site', () => {
    const readme = readFileSync(new URL('../../samples/README.md', import.meta.url), 'utf8');
    for (const name of SITE_NAMES) expect(readme).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  it.each(KINDS)('%s: every site differs clearly from the default and from every other site, deterministically', (kind) => {
    const frame0 = new Map<string, Uint8Array>();
    for (const site of SITE_NAMES) frame0.set(site, scene(kind, 4, site, 3).renderFrame(0).rgb);
    const fov = scene(kind, 4, undefined, 3).fieldOfView;
    const meanAbsDiff = (a: Uint8Array, b: Uint8Array): number => {
      let d = 0;
      let n = 0;
      for (let i = 0; i < fov.length; i++) {
        if (!fov[i]) continue;
        d += Math.abs(a[i * 3]! - b[i * 3]!) + Math.abs(a[i * 3 + 1]! - b[i * 3 + 1]!) + Math.abs(a[i * 3 + 2]! - b[i * 3 + 2]!);
        n += 3;
      }
      return d / n;
    };
    for (const x of SITE_NAMES) {
      for (const y of SITE_NAMES) {
        if (x >= y) continue;
        // A real change of look over the whole image, not a few pixels.
        expect(meanAbsDiff(frame0.get(x)!, frame0.get(y)!), `${kind} sites ${x} vs ${y}`).toBeGreaterThan(6);
      }
    }
    for (const site of OTHER_SITES) {
      const again = scene(kind, 4, site, 3);
      expect(sha256(again.renderFrame(0).rgb), `${kind} site ${site} twice`).toBe(sha256(frame0.get(site)!));
      expect(again.spec.site).toBe(site);
    }
  });

  it.each(KINDS)('%s: site b changes only the look: same seed, same masks on every checked frame', (kind) => {
    // Site b keeps the default motion, so its scene is the default scene under another look.
    const a = scene(kind, 2);
    const b = scene(kind, 2, 'b');
    expect(b.spec.frames).toBe(a.spec.frames);
    expect(b.objects).toEqual(a.objects);
    for (const t of [0, 30, a.spec.frames - 1]) {
      const fa = a.renderFrame(t);
      const fb = b.renderFrame(t);
      expect(sha256(fb.rgb)).not.toBe(sha256(fa.rgb));
      fa.masks.forEach((m, k) => expect(sha256(fb.masks[k]!), `frame ${t} object ${k + 1}`).toBe(sha256(m)));
    }
  });

  it('an unknown site is refused, naming the known ones', () => {
    expect(() => scene('ultrasound', 1, 'z', 2)).toThrow(/unknown site "z".*a, b, c, d, e/);
    expect(() => scene('endoscopy', 1, 'constructor', 2)).toThrow(RangeError);
  });
});

describe('sites: ground truth stays exactly the drawn object, and it stays findable', () => {
  // Looser than the default-site tests (40 / 25) on purpose: sites b and e are low-contrast by
  // design. Still far above what noise alone gives, so a human can find the object.
  const MIN_US_DARKNESS = 15;
  const MIN_ENDO_COLOUR = 12;
  const cases = OTHER_SITES.flatMap((site) => KINDS.map((kind) => [site, kind] as const));
  const table = SITES as Record<string, Site>;

  /** Frames 0 and mid of seeds 1, 2, 5 (dropout frames skipped: the structure is faded there). */
  function* checkedFrames(kind: ClipKind, site: string): Generator<[Scene, number, string]> {
    for (const seed of [1, 2, 5]) {
      const s = scene(kind, seed, site);
      for (const t of [0, Math.floor(s.spec.frames / 2)]) yield [s, t, `seed ${seed} frame ${t}`];
    }
  }

  it.each(cases)('site %s, %s: a recoloured object changes exactly the masked pixels (up to the optical blur)', (site, kind) => {
    // The same site with only the labelled objects' own colour changed (same draws, so the same
    // scene): the pixels that change are the pixels where the object was drawn. They must be the
    // mask, dilated by the blur radius where the site blurs after drawing, and nothing else.
    const base = SITES[site]!;
    const variant = `${site}recoloured`;
    table[variant] = {
      ...base,
      name: variant,
      us: { ...base.us, innerLevel: [0.42, 0.46] },
      endo: {
        ...base.endo,
        polypColors: [
          [0.15, 0.85, 0.3],
          [0.15, 0.85, 0.3],
        ],
      },
    };
    try {
      const radius = kind === 'ultrasound' ? 0 : base.endo.blurPasses;
      let checked = 0;
      for (const [s, t, where] of checkedFrames(kind, site)) {
        if (s.dropouts.some((d) => t >= d.start && t < d.end)) continue;
        const v = scene(kind, s.spec.seed, variant);
        const f = s.renderFrame(t);
        const g = v.renderFrame(t);
        const union = new Uint8Array(W * H);
        f.masks.forEach((m, k) => {
          expect(sha256(g.masks[k]!), `${where} object ${k + 1} mask`).toBe(sha256(m));
          for (let i = 0; i < m.length; i++) union[i] = union[i]! | m[i]!;
        });
        const near = radius === 0 ? union : ringAround(union, W, H, radius).map((x, i) => x | union[i]!);
        let strayChanged = 0;
        let maskPixels = 0;
        let maskUnchanged = 0;
        for (let i = 0; i < union.length; i++) {
          const changed = f.rgb[i * 3] !== g.rgb[i * 3] || f.rgb[i * 3 + 1] !== g.rgb[i * 3 + 1] || f.rgb[i * 3 + 2] !== g.rgb[i * 3 + 2];
          if (changed && !near[i]) strayChanged++;
          if (union[i]) {
            maskPixels++;
            if (!changed) maskUnchanged++;
          }
        }
        expect(strayChanged, `${where}: changed pixels outside the mask`).toBe(0);
        // Only the specular spot (saturated white, endoscopy; site b's flat domes have a broad one)
        // or near-black speckle may look the same.
        if (maskPixels > 0) expect(maskUnchanged / maskPixels, `${where}: mask pixels that did not change`).toBeLessThan(0.1);
        checked += maskPixels > 0 ? 1 : 0;
      }
      expect(checked).toBeGreaterThanOrEqual(4);
    } finally {
      delete table[variant];
    }
  });

  it.each(cases)('site %s, %s: masks sit inside the view, and every object stands out from its surroundings', (site, kind) => {
    let checked = 0;
    for (const [s, t, where] of checkedFrames(kind, site)) {
      const f = s.renderFrame(t);
      f.masks.forEach((mask, k) => {
        let area = 0;
        let outside = 0;
        for (let i = 0; i < mask.length; i++) {
          if (!mask[i]) continue;
          area++;
          if (!s.fieldOfView[i]) outside++;
        }
        expect(outside).toBe(0);
        if (area < 300) return; // left the view or nearly so
        if (s.dropouts.some((d) => d.objectId === k + 1 && t >= d.start && t < d.end)) return; // faded on purpose
        const label = `site ${site} ${kind} ${where} object ${k + 1}`;
        const ring = ringAround(mask, W, H, 3);
        const [r1, g1, b1] = meanRgb(f.rgb, mask);
        const [r2, g2, b2] = meanRgb(f.rgb, ring, s.fieldOfView);
        if (kind === 'ultrasound') {
          expect(r2 - r1, label).toBeGreaterThan(MIN_US_DARKNESS);
          // Grey scanners: the outline is also the sharpest edge (any displaced copy does worse).
          const exact = edgeStrength(f.rgb, mask, W, H, s.fieldOfView);
          for (const [dx, dy] of [
            [2, 0],
            [-2, 0],
            [0, 2],
            [0, -2],
            [2, 2],
            [-2, -2],
          ] as const) {
            expect(edgeStrength(f.rgb, shiftMask(mask, W, H, dx, dy), W, H, s.fieldOfView), `${label} shifted ${dx},${dy}`).toBeLessThan(exact);
          }
        } else {
          expect(Math.hypot(r1 - r2, g1 - g2, b1 - b2), label).toBeGreaterThan(MIN_ENDO_COLOUR);
        }
        checked++;
      });
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });
});

describe('sites: command line and output layout', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-sites-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('--site takes a known site; a (or nothing) is the default and is left unset', () => {
    expect(parseCliArgs(['--out', 'x', '--site', 'c']).site).toBe('c');
    expect(parseCliArgs(['--out', 'x', '--site', 'e', '--kind', 'endoscopy', '--seed-start', '5000', '--count', '2'])).toMatchObject({ site: 'e', kinds: ['endoscopy'], seeds: [5000, 5001] });
    expect(parseCliArgs(['--out', 'x', '--site', 'a']).site).toBeUndefined();
    expect(parseCliArgs(['--out', 'x']).site).toBeUndefined();
  });

  it.each([['z'], [''], ['B'], ['b,c'], ['toString']])('--site %j is a usage error listing the sites', (name) => {
    expect(() => parseCliArgs(['--out', 'x', '--site', name])).toThrow(UsageError);
    expect(() => parseCliArgs(['--out', 'x', '--site', name])).toThrow(/a, b, c, d, e/);
  });

  it('folder names: kind first, seed last, site in between only when not the default', () => {
    expect(clipDirName('ultrasound', 7)).toBe('ultrasound-7');
    expect(clipDirName('ultrasound', 7, 'a')).toBe('ultrasound-7');
    expect(clipDirName('endoscopy', 1234, 'c')).toBe('endoscopy-c-1234');
    for (const site of SITE_NAMES) {
      const name = clipDirName('endoscopy', 42, site);
      expect(name.split('-')[0]).toBe('endoscopy');
      expect(name.slice(name.lastIndexOf('-') + 1)).toBe('42');
    }
  });

  it('writeClip puts a site clip in its own folder, records the site, and skips it only when the site matches', async () => {
    const spec = { kind: 'endoscopy' as const, seed: 4300, width: 128, height: 96, fps: 30, frames: 4 };
    const c = await writeClip({ ...spec, site: 'b' }, tmp);
    const a = await writeClip(spec, tmp);
    expect(c.dir).toBe(join(tmp, 'endoscopy-b-4300'));
    expect(a.dir).toBe(join(tmp, 'endoscopy-4300'));
    const gtC = JSON.parse(readFileSync(join(c.dir, 'gt.json'), 'utf8')) as GtFile;
    const gtA = JSON.parse(readFileSync(join(a.dir, 'gt.json'), 'utf8')) as GtFile;
    expect(gtC.videos[0]!.site).toBe('b');
    expect('site' in gtA.videos[0]!).toBe(false);
    expect(gtC.info.raw_sha256).not.toBe(gtA.info.raw_sha256);
    // Same polyps, other look: the ground truth itself is the same.
    expect(gtC.annotations).toEqual(gtA.annotations);
    expect((await writeClip({ ...spec, site: 'b' }, tmp)).skipped).toBe(true);
    // A folder holding another site's clip is not taken for this one.
    rmSync(a.dir, { recursive: true });
    renameSync(c.dir, a.dir);
    expect((await writeClip(spec, tmp)).skipped).toBe(false);
    const redone = JSON.parse(readFileSync(join(a.dir, 'gt.json'), 'utf8')) as GtFile;
    expect(redone.info.raw_sha256).toBe(gtA.info.raw_sha256);
  });
});
