/**
 * A stored session's current masks as YouTube-VIS JSON (the `cineseg track` shape), the view
 * every exporter starts from; one function for the SQLite and the PostgreSQL store alike.
 */
import type { CompressedRle } from '../mask/rle.js';
import type { VisJson } from '../mask/vis-json.js';
import type { LoadedSession, MaskRecord } from './store-records.js';

/**
 * One annotation per live object (removed ones leave exports), in object-id order, with null on
 * frames without a mask; categories are the objects' labels in order of first use. `loaded` is a
 * store's loadSession: its masks are the current ones of live objects.
 */
export function sessionVisJson(loaded: LoadedSession): VisJson {
  const { session, clip, masks } = loaded;
  const objects = loaded.objects.filter((o) => !o.removed);
  const byObject = new Map<number, MaskRecord[]>();
  for (const m of masks) {
    let a = byObject.get(m.objectId);
    if (!a) byObject.set(m.objectId, (a = []));
    a.push(m);
  }
  const n = clip.numFrames;
  const labels = [...new Set(objects.map((o) => o.label))];
  return {
    info: { tool: 'cineseg store', sessionId: session.id, status: session.status, promptVersion: session.promptVersion, ...session.meta, ...(clip.dicom ? { dicom: clip.dicom } : {}) },
    videos: [{ id: 1, width: clip.width, height: clip.height, length: n, fps: clip.fps, file: clip.path }],
    categories: labels.map((name, i) => ({ id: i + 1, name })),
    annotations: objects.map((o, i) => {
      const segs: (CompressedRle | null)[] = new Array(n).fill(null);
      const scores: (number | null)[] = new Array(n).fill(null);
      const areas: (number | null)[] = new Array(n).fill(null);
      for (const m of byObject.get(o.objectId) ?? []) {
        segs[m.frame] = m.rle;
        scores[m.frame] = m.score;
        areas[m.frame] = m.area;
      }
      return { id: i + 1, video_id: 1, object_id: o.objectId, category_id: labels.indexOf(o.label) + 1, segmentations: segs, scores, areas };
    }),
  };
}
