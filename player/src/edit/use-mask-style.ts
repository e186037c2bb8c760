/**
 * How masks look in the recorded view: the clip's label set (GET /api/labels?clip=) turned into
 * a colour function (a labelled object takes its class's colour, any other its own), the global
 * opacity, per-object opacity and outline-only mode. Kept apart from App so App only wires it.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import { makeColorFor, type ColorFor, type LabelClass, type Rgb } from '../overlay/colors.js';
import { DEFAULT_OPACITY, type MaskStyle } from '../overlay/paint.js';

export interface MaskLook {
  labels: readonly LabelClass[];
  /** Replaces the label set (an editor saved a new one). */
  setLabels(l: readonly LabelClass[]): void;
  colorFor: ColorFor;
  /** The colour of an object by id, with its current name as the label. */
  colorOf: (objectId: number) => Rgb;
  opacity: number;
  setOpacity(a: number): void;
  outline: boolean;
  setOutline(o: boolean): void;
  objectOpacity: ReadonlyMap<number, number>;
  setObjectOpacity(objectId: number, a: number): void;
  style: MaskStyle;
}

/** `names`: each object's name (its label when it matches one of the set). */
export function useMaskStyle(clipId: string | null, names: ReadonlyMap<number, string>): MaskLook {
  const [labels, setLabels] = useState<readonly LabelClass[]>([]);
  const [opacity, setOpacity] = useState(DEFAULT_OPACITY);
  const [outline, setOutline] = useState(false);
  const [objectOpacity, setOO] = useState<ReadonlyMap<number, number>>(new Map());

  useEffect(() => {
    if (!clipId) return;
    let alive = true;
    fetch(`/api/labels?clip=${encodeURIComponent(clipId)}`)
      .then((r) => (r.ok ? (r.json() as Promise<{ labels?: LabelClass[] }>) : { labels: [] }))
      .then((j) => alive && setLabels(Array.isArray(j.labels) ? j.labels : []))
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, [clipId]);

  const colorFor = useMemo(() => makeColorFor(labels), [labels]);
  // Keyed by the names' content so a rename repaints, but an unrelated render does not.
  const nameKey = [...names].map(([id, n]) => `${id}=${n}`).join('\n');
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const colorOf = useMemo(() => (id: number) => colorFor(id, names.get(id)), [colorFor, nameKey]);
  const setObjectOpacity = useCallback((id: number, a: number) => setOO((m) => new Map(m).set(id, a)), []);
  const style = useMemo<MaskStyle>(() => ({ colorOf, opacity, objectOpacity, outline }), [colorOf, opacity, objectOpacity, outline]);
  return { labels, setLabels, colorFor, colorOf, opacity, setOpacity, outline, setOutline, objectOpacity, setObjectOpacity, style };
}
