/**
 * Label sets (the classes objects are named after, each with a colour):
 * - `GET /api/labels?clip=<clip id>` → `{source: 'folder'|'session'|'default', labels: [{name, color}]}`:
 *   the nearest `labels.json` from the clip's folder up to its media folder (`folder`), else the
 *   set stored with a session when `&session=<id>` names one (`session`), else the defaults.
 * - `PUT /api/labels?clip=<clip id>` with `{"labels":[{"name":"polyp","color":"#22cc88"}]}`:
 *   writes that `labels.json` (the one GET found, else one in the media folder itself); with
 *   `&session=<id>` and no `clip`, stores the set with the session (meta `labels`) instead.
 *
 * The file format is `labels.json` = `{"labels":[{"name":…,"color":"#rrggbb"}]}`, checked with
 * zod on read and write (names unique, 1–64 characters; at most 256 labels). The clip is looked
 * up by id in the catalog (a client never names a path), and the file must resolve inside the
 * clip's media folder (path-jail.ts): a labels.json that is a symlink out of it is refused.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CinesegError, ErrorCode } from '../errors.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import type { ClipCatalog } from './clip-catalog.js';
import { checkedRealpath, isInside } from './path-jail.js';

export const LabelSchema = z.object({ name: z.string().trim().min(1).max(64), color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour is #rrggbb') });
export const LabelSetSchema = z
  .object({ labels: z.array(LabelSchema).max(256) })
  .refine((s) => new Set(s.labels.map((l) => l.name.toLowerCase())).size === s.labels.length, { message: 'label names must be unique' });
export type Label = z.infer<typeof LabelSchema>;

/** What a site starts with: classes of endoscopy and ultrasound work, distinct colours. */
export const DEFAULT_LABELS: readonly Label[] = [
  { name: 'polyp', color: '#22cc88' },
  { name: 'instrument', color: '#3399ff' },
  { name: 'vessel', color: '#ee4444' },
  { name: 'lesion', color: '#ffaa22' },
  { name: 'organ', color: '#aa66ff' },
  { name: 'fluid', color: '#22cccc' },
  { name: 'other', color: '#dddd44' },
];

export interface LabelSetReply {
  source: 'folder' | 'session' | 'default';
  labels: Label[];
}

const FILE = 'labels.json';
/** A PUT body bigger than this is no label set. */
const MAX_BODY = 64 * 1024;
const SESSION_RE = /^[A-Za-z0-9_-]{1,64}$/;

function invalid(message: string): CinesegError {
  return new CinesegError(ErrorCode.E_LABELS_INVALID, message);
}

/** Parses a label set. @throws CinesegError E_LABELS_INVALID */
export function parseLabelSet(value: unknown, where: string): Label[] {
  const r = LabelSetSchema.safeParse(value);
  if (!r.success)
    throw invalid(
      `${where}: not a label set ({"labels":[{"name":"polyp","color":"#22cc88"}]}): ${r.error.issues
        .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
        .slice(0, 3)
        .join('; ')}`,
    );
  return r.data.labels.map((l) => ({ name: l.name, color: l.color.toLowerCase() }));
}

export interface LabelRoutes {
  handle(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void>;
}

export function labelRoutes(deps: { catalog: ClipCatalog; store: AnnotationStore | null; log: (line: string) => void }): LabelRoutes {
  /** The folders from the clip's up to its media folder (realpaths), nearest first. */
  async function folders(clipId: string): Promise<{ chain: string[]; root: string }> {
    const clip = await deps.catalog.get(clipId);
    const chain: string[] = [];
    for (let d = dirname(clip.path); isInside(clip.rootReal, d); d = dirname(d)) {
      chain.push(d);
      if (d === clip.rootReal) break;
    }
    return { chain, root: clip.rootReal };
  }

  /** The nearest labels.json (its realpath, checked inside the media folder), or null. */
  async function findFile(chain: string[], root: string): Promise<string | null> {
    for (const d of chain) {
      const real = await checkedRealpath(root, join(d, FILE));
      if (real !== null) return real;
    }
    return null;
  }

  async function sessionLabels(id: string | null): Promise<Label[] | null> {
    if (!id || !deps.store) return null;
    if (!SESSION_RE.test(id)) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, 'no such session');
    const s = await deps.store.getSession(id);
    if (!s) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no stored session "${id}"`, { details: { sessionId: id } });
    return Array.isArray(s.meta.labels) ? parseLabelSet({ labels: s.meta.labels }, `session ${id}`) : null;
  }

  return {
    async handle(req, res, query) {
      const method = req.method ?? 'GET';
      const clipId = query.get('clip');
      const sessionId = query.get('session');
      if (method === 'GET' || method === 'HEAD') {
        let reply: LabelSetReply | null = null;
        if (clipId) {
          const { chain, root } = await folders(clipId);
          const file = await findFile(chain, root);
          if (file) {
            let parsed: unknown;
            try {
              parsed = JSON.parse(readFileSync(file, 'utf8'));
            } catch (cause) {
              throw new CinesegError(ErrorCode.E_LABELS_INVALID, `the media folder's ${FILE} is not JSON: ${(cause as Error).message}`, { cause });
            }
            reply = { source: 'folder', labels: parseLabelSet(parsed, FILE) };
          }
        }
        if (!reply) {
          const fromSession = await sessionLabels(sessionId);
          if (fromSession) reply = { source: 'session', labels: fromSession };
        }
        reply ??= { source: 'default', labels: DEFAULT_LABELS.map((l) => ({ ...l })) };
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(method === 'HEAD' ? undefined : JSON.stringify(reply));
        return;
      }
      if (method !== 'PUT') return void res.writeHead(405, { allow: 'GET, HEAD, PUT' }).end();
      const body = await readJson(req);
      const labels = parseLabelSet(body, 'the request body');
      if (clipId) {
        const { chain, root } = await folders(clipId);
        const target = (await findFile(chain, root)) ?? join(root, FILE);
        // Written beside and renamed over: a reader never sees half a file.
        const tmp = `${target}.${process.pid}.tmp`;
        try {
          writeFileSync(tmp, `${JSON.stringify({ labels }, null, 2)}\n`);
          renameSync(tmp, target);
        } catch (cause) {
          throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `cannot write the media folder's ${FILE}: ${(cause as Error).message}`, { cause });
        }
        deps.log(`labels: ${labels.length} label(s) written for clip ${clipId.slice(0, 200)}`);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(JSON.stringify({ source: 'folder', labels } satisfies LabelSetReply));
        return;
      }
      if (sessionId && deps.store) {
        await sessionLabels(sessionId);
        await deps.store.updateSessionMeta(sessionId, { labels });
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(JSON.stringify({ source: 'session', labels } satisfies LabelSetReply));
        return;
      }
      throw invalid('PUT /api/labels needs ?clip=<clip id> (or ?session=<id>)');
    },
  };
}

/** A small JSON request body. @throws CinesegError E_LABELS_INVALID */
export async function readJson(req: IncomingMessage, max = MAX_BODY, code: ErrorCode = ErrorCode.E_LABELS_INVALID): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw new CinesegError(code, `request body over ${max} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CinesegError(code, `request body is not JSON: ${(cause as Error).message}`, { cause });
  }
}
