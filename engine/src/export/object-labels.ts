/**
 * Object names on the command line (`cineseg track --label polyp --label instrument`, or
 * `--label 2=instrument`) → the categories of a YouTube-VIS result, so exports of a CLI run carry
 * classes as the player's do (objects named there are stored with their label, store toVisJson).
 *
 * A plain name goes to the next object in the order the prompts first name them; `<id>=<name>`
 * names that object id. Objects left unnamed keep the category `object`.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';

const NAME_RE = /^[^\s=][^\n\r\t]{0,63}$/;

/** `--label` values → object id → name. @throws CinesegError E_USAGE */
export function parseObjectLabels(values: readonly string[], objectOrder: readonly number[]): Map<number, string> {
  const out = new Map<number, string>();
  let next = 0;
  for (const v of values) {
    const m = /^(\d{1,9})=(.*)$/.exec(v);
    const name = (m ? m[2]! : v).trim();
    if (!NAME_RE.test(name)) throw new CinesegError(ErrorCode.E_USAGE, `--label "${v.slice(0, 80)}": a label is 1-64 characters (e.g. polyp, or 2=instrument)`);
    let id: number;
    if (m) id = Number(m[1]);
    else {
      if (next >= objectOrder.length) throw new CinesegError(ErrorCode.E_USAGE, `--label "${name}": more labels than prompted objects (${objectOrder.length}); name others with <object id>=<label>`);
      id = objectOrder[next++]!;
    }
    if (out.has(id)) throw new CinesegError(ErrorCode.E_USAGE, `object ${id} is labelled twice (--label)`);
    out.set(id, name);
  }
  return out;
}

/** The result with one category per distinct name (in object id order); unnamed objects are `object`. */
export function applyObjectLabels(vis: VisJson, labels: ReadonlyMap<number, string>): VisJson {
  if (labels.size === 0) return vis;
  const names: string[] = [];
  const annotations = [...vis.annotations]
    .sort((a, b) => a.object_id - b.object_id)
    .map((a) => {
      const name = labels.get(a.object_id) ?? vis.categories.find((c) => c.id === a.category_id)?.name ?? 'object';
      if (!names.includes(name)) names.push(name);
      return { ...a, category_id: names.indexOf(name) + 1 };
    });
  return { ...vis, categories: names.map((name, i) => ({ id: i + 1, name })), annotations };
}
