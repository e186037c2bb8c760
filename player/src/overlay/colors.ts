/**
 * Object colours. An object whose label is in the clip's label set takes its class colour (every
 * "polyp" looks alike); any other object gets a colour of its own from golden-angle hues, so any
 * number of objects stay apart (no palette that repeats after 8). The first hues sit away from red:
 * endoscopy and ultrasound pictures are full of red and orange tissue, and a red mask on red
 * mucosa is invisible.
 */

export type Rgb = [number, number, number];

/** An object's colour from its id and label (a label-set entry's colour, else the id's own). */
export type ColorFor = (objectId: number, label?: string) => Rgb;

/** A label of the clip's label set (GET /api/labels?clip=): its name and, optionally, its colour (#rrggbb). */
export interface LabelClass {
  name: string;
  color?: string;
}

/** The golden angle in degrees: successive multiples fill the hue circle as evenly as can be. */
const GOLDEN_ANGLE = 137.50776405003785;
/** Object 1's hue: a green-cyan, far from the reds of tissue (0°) and from the next hues. */
const FIRST_HUE = 160;
/** Hues within this many degrees of pure red are pushed out of the band for the objects' own colours. */
const RED_BAND = 22;

/** HSL (h in degrees, s and l in 0..1) to 8-bit RGB. */
export function hslToRgb(h: number, s: number, l: number): Rgb {
  const hh = ((h % 360) + 360) % 360;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((hh / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = hh < 60 ? [c, x, 0] : hh < 120 ? [x, c, 0] : hh < 180 ? [0, c, x] : hh < 240 ? [0, x, c] : hh < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** The hue of an object's own colour: golden-angle steps from FIRST_HUE, nudged out of the red band. */
export function objectHue(objectId: number): number {
  let h = (((FIRST_HUE + (objectId - 1) * GOLDEN_ANGLE) % 360) + 360) % 360;
  // Pushed to the nearer edge of the band, so neighbours stay apart and nothing lands on red.
  if (h < RED_BAND) h = RED_BAND + h / 2;
  else if (h > 360 - RED_BAND) h = 360 - RED_BAND - (360 - h) / 2;
  return h;
}

/**
 * An object's own colour. Lightness alternates a little with the id, so two objects whose hues
 * happen to be close (after many golden steps) still differ.
 */
export function objectColor(objectId: number): Rgb {
  const light = objectId % 3 === 0 ? 0.62 : objectId % 3 === 1 ? 0.55 : 0.48;
  return hslToRgb(objectHue(objectId), 0.9, light);
}

/** `#rrggbb` (or `#rgb`) to RGB; null when it is not one. */
export function parseHex(s: string | undefined): Rgb | null {
  if (!s) return null;
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(s.trim());
  if (!m) return null;
  const h = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!;
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

/** A class's colour when the label set gives none: spread by the class's place in the set (golden angle, offset from the objects' own). */
export function classColor(index: number): Rgb {
  return hslToRgb(objectHue(index + 1) + GOLDEN_ANGLE / 2, 0.75, 0.6);
}

/**
 * The colour function of a label set: a labelled object takes its class's colour, any other its
 * own. Labels match case-insensitively and ignore surrounding spaces (typed names).
 */
export function makeColorFor(labels: readonly LabelClass[] = []): ColorFor {
  const byName = new Map<string, Rgb>();
  labels.forEach((l, i) => byName.set(l.name.trim().toLowerCase(), parseHex(l.color) ?? classColor(i)));
  return (objectId, label) => (label !== undefined && byName.get(label.trim().toLowerCase())) || objectColor(objectId);
}

/** CSS `rgb()` of a colour. */
export function css([r, g, b]: Rgb, alpha = 1): string {
  return alpha >= 1 ? `rgb(${r},${g},${b})` : `rgba(${r},${g},${b},${alpha})`;
}
