/**
 * Appearance tables per simulated hospital site. A site changes how a clip *looks* (scanner
 * settings, light source, texture, speckle, borders, distractors, motion, noise) but not what it
 * labels: the same geometry test still decides both drawing and mask, so ground truth stays exact.
 *
 * Why fixed tables: a site's look must come from its name alone (so `--site c` means the same
 * thing on every machine and in every run) while the seed keeps choosing the scene. Every number
 * of site `a` is the literal constant the generator used before sites existed, in the same
 * arithmetic position, so the published default clips stay byte for byte what they were. Site-only
 * randomness (extra distractors, jitter, noise) comes from new named RNG forks, which do not
 * advance the streams the default look draws from.
 */

/** [lo, hi) for a seeded uniform draw. */
export type Range = readonly [number, number];
export type Rgb = readonly [number, number, number];

export interface UltrasoundLook {
  /** Coarse tissue texture: fbm lattice spacing (x, y) in pixels and its amplitude. */
  texScale: readonly [number, number];
  texAmp: number;
  /** Depth-curved layering amplitude. */
  bandAmp: number;
  /** Fibrous streaks: fbm spacing (x, y), the ridge level above which they show, their gain. */
  streakScale: readonly [number, number];
  streakThreshold: number;
  streakGain: number;
  /** Depth attenuation exponent and lateral falloff toward the fan edges (a fan vignette). */
  attenuation: number;
  lateralFalloff: number;
  /** Speckle grain: box-blur radii (lateral, axial) of the complex field; larger = coarser grains. */
  speckleBlur: readonly [number, number];
  /** Unmodulated echo share and speckle share (compounding vs raw speckle). */
  speckleFloor: number;
  speckleShare: number;
  /** Speckle decorrelation speed per frame. */
  speckleDrift: Range;
  /** Log compression: out = log1p(k v) / log1p(1.6 k); small k = high contrast, large k = flat. */
  compression: number;
  /** Overall output gain (1 = untouched), a colour map tint (null = grey) and additive noise (grey levels, sd). */
  gain: number;
  tint: Rgb | null;
  noise: number;
  /** Structures: inner echo level, rim width (px) and rim gain, posterior enhancement. */
  innerLevel: Range;
  rimWidth: Range;
  rimBoost: Range;
  enhancement: number;
  /** 0 = sharp wall; > 0 = the inner edge fades over this share of the radius (a soft border). */
  softBorder: number;
  /** Look-alikes drawn with the structures' look: level, rim width, rim gain; plus extra ones. */
  lookalikeLevel: Range;
  lookalikeRim: Range;
  lookalikeBoost: Range;
  extraLookalikes: readonly [number, number];
  /** Extra bright reflectors with acoustic shadows. */
  extraReflectors: number;
  /** Motion: sway amplitude and speed factors, per-frame probe jitter (px sd), breathing factor. */
  motionAmp: number;
  motionSpeed: number;
  jitter: number;
  breath: number;
}

export interface EndoscopyLook {
  /** Mucosa colour ranges: base (thick) and deep (vascular) tissue. */
  base: readonly [Range, Range, Range];
  deep: readonly [Range, Range, Range];
  /** Colour patch spacing, fine grain spacing, grain = grainBase + grainAmp * noise. */
  patchScale: number;
  grainScale: number;
  grainBase: number;
  grainAmp: number;
  /** Vessels: ridge spacing, level above which they show, gate level, darkening per channel. */
  vesselScale: number;
  vesselThreshold: number;
  vesselGate: number;
  vesselDarken: Rgb;
  /** Haustral folds: spacing range, shade = foldBase + foldAmp * fold. */
  foldSpacing: Range;
  foldBase: number;
  foldAmp: number;
  /** Wet glints on fold crests: noise level above which they show (lower = more glints). */
  glintThreshold: number;
  /** Vignette: max(0, v0 - v1 d^v2). */
  vignette: readonly [number, number, number];
  lumenDepth: Range;
  /** Polyps: size (share of height), the two tints, tissue/colour mix, dome height, pit texture. */
  polypSize: Range;
  polypColors: readonly [Rgb, Rgb];
  tissueShare: number;
  colorShare: number;
  polypHeight: Range;
  pitScale: number;
  pitBase: number;
  pitAmp: number;
  /** Shading: ambient + diffuse * lambert; specular exponent and gain. */
  ambient: number;
  diffuse: number;
  specExp: number;
  specGain: number;
  /**
   * Contact shadow around the base: depth, width (share of radius) and the outer radius it
   * reaches. Reach is stored, not computed as 1 + width: 1 + 0.12 is not the double 1.12.
   */
  shadowDepth: number;
  shadowWidth: number;
  shadowReach: number;
  /** 0 = crisp outline; > 0 = the polyp blends into the mucosa over this share of its radius. */
  softBorder: number;
  /** Camera: pan/zoom/roll amplitude factors, speed factor, per-frame jitter (px sd). */
  pan: number;
  zoom: number;
  roll: number;
  speed: number;
  jitter: number;
  /** [1,2,1] blur passes, sensor noise amplitude, brightness gain and white balance (null = none). */
  blurPasses: number;
  noise: number;
  gain: number;
  whiteBalance: Rgb | null;
  /** Unlabelled distractors: air bubbles and raised look-alike bumps (count ranges), the bumps' two tints. */
  bubbles: readonly [number, number];
  decoys: readonly [number, number];
  decoyColors: readonly [Rgb, Rgb];
}

export interface Site {
  name: string;
  /** One line per kind for the README table and --help. */
  ultrasound: string;
  endoscopy: string;
  us: UltrasoundLook;
  endo: EndoscopyLook;
}

/** The site every clip had before sites existed; its clips keep their old names and bytes. */
export const DEFAULT_SITE = 'a';

const US_A: UltrasoundLook = {
  texScale: [70, 45],
  texAmp: 0.5,
  bandAmp: 0.16,
  streakScale: [45, 14],
  streakThreshold: 0.9,
  streakGain: 7,
  attenuation: 1.15,
  lateralFalloff: 0.35,
  speckleBlur: [3, 1],
  speckleFloor: 0.2,
  speckleShare: 0.8,
  speckleDrift: [0.02, 0.04],
  compression: 5,
  gain: 1,
  tint: null,
  noise: 0,
  innerLevel: [0.035, 0.08],
  rimWidth: [2.5, 4],
  rimBoost: [2, 2.8],
  enhancement: 0.3,
  softBorder: 0,
  lookalikeLevel: [0.035, 0.08],
  lookalikeRim: [2.5, 4],
  lookalikeBoost: [1.9, 2.7],
  extraLookalikes: [0, 0],
  extraReflectors: 0,
  motionAmp: 1,
  motionSpeed: 1,
  jitter: 0,
  breath: 1,
};

const ENDO_A: EndoscopyLook = {
  base: [
    [0.78, 0.9],
    [0.38, 0.5],
    [0.33, 0.42],
  ],
  deep: [
    [0.55, 0.68],
    [0.16, 0.24],
    [0.14, 0.2],
  ],
  patchScale: 90,
  grainScale: 18,
  grainBase: 0.9,
  grainAmp: 0.2,
  vesselScale: 55,
  vesselThreshold: 0.955,
  vesselGate: 0.45,
  vesselDarken: [0.22, 0.45, 0.3],
  foldSpacing: [70, 120],
  foldBase: 0.9,
  foldAmp: 0.1,
  glintThreshold: 0.965,
  vignette: [1.12, 0.75, 2.2],
  lumenDepth: [0.6, 0.85],
  polypSize: [0.08, 0.15],
  polypColors: [
    [0.86, 0.3, 0.25],
    [0.97, 0.68, 0.6],
  ],
  tissueShare: 0.3,
  colorShare: 0.7,
  polypHeight: [0.5, 0.9],
  pitScale: 3,
  pitBase: 0.86,
  pitAmp: 0.28,
  ambient: 0.35,
  diffuse: 0.8,
  specExp: 140,
  specGain: 1.8,
  shadowDepth: 0.3,
  shadowWidth: 0.12,
  shadowReach: 1.12,
  softBorder: 0,
  pan: 1,
  zoom: 1,
  roll: 1,
  speed: 1,
  jitter: 0,
  blurPasses: 1,
  noise: 0.03,
  gain: 1,
  whiteBalance: null,
  bubbles: [0, 0],
  decoys: [0, 0],
  decoyColors: [
    [0.86, 0.3, 0.25],
    [0.97, 0.68, 0.6],
  ],
};

export const SITES: Readonly<Record<string, Site>> = {
  a: {
    name: 'a',
    ultrasound: 'the default look (held-out evaluation set)',
    endoscopy: 'the default look (held-out evaluation set)',
    us: US_A,
    endo: ENDO_A,
  },
  b: {
    name: 'b',
    ultrasound:
      'older console: flat, low-contrast image (strong log compression) with coarse, harsh speckle; fainter structures with a thick bright ring wall; +1-2 ring-walled look-alikes; coarser tissue texture',
    endoscopy: 'faint, flat polyps close in colour to a paler salmon mucosa with coarse grain and more visible vessels; soft polyp borders, weak contact shadow; more wet glints',
    us: {
      ...US_A,
      texScale: [120, 80],
      bandAmp: 0.1,
      speckleBlur: [5, 2],
      speckleFloor: 0.05,
      speckleShare: 0.95,
      compression: 14,
      innerLevel: [0.16, 0.24],
      rimWidth: [5, 7],
      rimBoost: [3.2, 4],
      lookalikeLevel: [0.16, 0.24],
      lookalikeRim: [5, 7],
      lookalikeBoost: [3, 3.8],
      extraLookalikes: [1, 2],
    },
    endo: {
      ...ENDO_A,
      base: [
        [0.86, 0.95],
        [0.55, 0.63],
        [0.45, 0.52],
      ],
      deep: [
        [0.7, 0.78],
        [0.35, 0.42],
        [0.3, 0.36],
      ],
      patchScale: 45,
      grainScale: 8,
      grainBase: 0.8,
      grainAmp: 0.4,
      vesselThreshold: 0.94,
      vesselGate: 0.36,
      glintThreshold: 0.93,
      polypColors: [
        [0.92, 0.5, 0.42],
        [0.95, 0.66, 0.58],
      ],
      tissueShare: 0.5,
      colorShare: 0.5,
      polypHeight: [0.3, 0.5],
      pitScale: 1.5,
      shadowDepth: 0.12,
      softBorder: 0.3,
    },
  },
  c: {
    name: 'c',
    ultrasound:
      'high-frequency probe: fine speckle, fine tissue texture, steep depth attenuation and a strong fan vignette, brighter gain; soft-bordered structures without a rim; faster, jittery structure motion',
    endoscopy: 'narrow-band-like light: teal/olive mucosa, dark brown vessels and brown polyps; no optical blur (sharp), strong vignette; faster camera with a little shake',
    us: {
      ...US_A,
      texScale: [35, 22],
      streakScale: [25, 8],
      speckleBlur: [1, 0],
      attenuation: 1.9,
      lateralFalloff: 0.7,
      gain: 1.35,
      innerLevel: [0.05, 0.1],
      rimBoost: [1.05, 1.25],
      softBorder: 0.3,
      lookalikeLevel: [0.05, 0.1],
      lookalikeBoost: [1.05, 1.25],
      motionSpeed: 1.6,
      jitter: 1.2,
    },
    endo: {
      ...ENDO_A,
      base: [
        [0.42, 0.5],
        [0.6, 0.68],
        [0.5, 0.58],
      ],
      deep: [
        [0.3, 0.36],
        [0.42, 0.5],
        [0.4, 0.47],
      ],
      vesselThreshold: 0.94,
      vesselDarken: [0.4, 0.68, 0.8],
      polypColors: [
        [0.5, 0.33, 0.2],
        [0.62, 0.45, 0.3],
      ],
      vignette: [1.15, 0.95, 1.8],
      blurPasses: 0,
      speed: 1.5,
      jitter: 1.5,
    },
  },
  d: {
    name: 'd',
    ultrasound: 'sepia colour map with electronic noise; strongly fibrous, streaky tissue; +2-3 extra anechoic look-alikes without a rim and +1 reflector; large, slow sway and deeper breathing',
    endoscopy: 'warm (yellowish) white balance, 5-12 air bubbles with bright rims floating on the mucosa, heavier sensor noise, shaky scope and faster panning',
    us: {
      ...US_A,
      streakThreshold: 0.8,
      streakGain: 5,
      tint: [1, 0.84, 0.62],
      noise: 9,
      lookalikeLevel: [0.02, 0.05],
      lookalikeBoost: [1, 1.1],
      extraLookalikes: [2, 3],
      extraReflectors: 1,
      motionAmp: 1.8,
      motionSpeed: 0.7,
      breath: 2,
    },
    endo: {
      ...ENDO_A,
      noise: 0.07,
      whiteBalance: [1.04, 0.95, 0.72],
      bubbles: [5, 12],
      pan: 1.4,
      speed: 1.7,
      jitter: 2.5,
    },
  },
  e: {
    name: 'e',
    ultrasound:
      'dark, low-gain image (high contrast compression) with strong lateral falloff; structures moderately dark with a thin, soft halo; +1-2 extra look-alikes and +2 reflectors (more shadows); deep breathing, jittery structure motion',
    endoscopy: 'dim light with a heavy vignette and soft focus (2 blur passes); 2-5 raised look-alike mucosal bumps; polyps ringed by a darker, wider contact shadow; more noise, larger zoom and roll',
    us: {
      ...US_A,
      compression: 2.5,
      gain: 0.8,
      lateralFalloff: 0.75,
      innerLevel: [0.07, 0.12],
      rimWidth: [1.5, 2.5],
      rimBoost: [1.5, 1.9],
      softBorder: 0.15,
      lookalikeLevel: [0.07, 0.12],
      lookalikeRim: [1.5, 2.5],
      lookalikeBoost: [1.5, 1.9],
      extraLookalikes: [1, 2],
      extraReflectors: 2,
      breath: 2.5,
      jitter: 0.8,
    },
    endo: {
      ...ENDO_A,
      vignette: [1.05, 0.95, 1.5],
      gain: 0.72,
      blurPasses: 2,
      noise: 0.05,
      shadowDepth: 0.45,
      shadowWidth: 0.16,
      shadowReach: 1.16,
      decoys: [2, 5],
      // The polyp tints pulled a quarter of the way toward the mucosa: look-alikes, not copies.
      decoyColors: [
        [0.85, 0.34, 0.29],
        [0.93, 0.61, 0.54],
      ],
      zoom: 1.6,
      roll: 2,
    },
  },
};

export const SITE_NAMES: readonly string[] = Object.keys(SITES);

/** The site table entry for a name (undefined = the default); throws a RangeError naming the sites. */
export function siteFor(name: string | undefined): Site {
  const site = SITES[name ?? DEFAULT_SITE];
  if (!site || !Object.prototype.hasOwnProperty.call(SITES, name ?? DEFAULT_SITE)) {
    throw new RangeError(`unknown site ${JSON.stringify(name)}; sites are ${SITE_NAMES.join(', ')}`);
  }
  return site;
}

/** True for the default site (absent or 'a'): such clips keep their pre-site names and files. */
export function isDefaultSite(name: string | undefined): boolean {
  return name === undefined || name === DEFAULT_SITE;
}

/** A seeded per-frame jitter track (sd `amount` px, lightly smoothed so it looks like a hand). */
export function jitterTrack(next: () => number, frames: number, amount: number): Float64Array {
  const out = new Float64Array(frames * 2);
  let jx = 0;
  let jy = 0;
  for (let t = 0; t < frames; t++) {
    jx = 0.5 * jx + amount * next();
    jy = 0.5 * jy + amount * next();
    out[t * 2] = jx;
    out[t * 2 + 1] = jy;
  }
  return out;
}
