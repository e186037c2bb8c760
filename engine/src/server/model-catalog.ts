/**
 * The model bundles a server offers (GET /api/models): the one it was started with (`default`),
 * and every bundle "Improve the model" jobs wrote under `<store folder>/models/<id>/`
 * (adapt/finetune-jobs.ts). A session started or reopened with `model: <id>` runs on that
 * bundle's {@link ModelSessions}, loaded once on first use and shared by every session on it,
 * released by {@link ModelCatalog.destroy} (the server's destroy); the default's sessions belong
 * to the server and are not released here.
 *
 * Ids are folder names checked against a plain pattern, and a bundle is looked up by id in a scan
 * of the models folder whose realpath must stay inside it, so a client never names a path.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { loadBundle, type Bundle } from '../model/bundle.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { checkedRealpath } from './path-jail.js';

/** The id of the bundle the server was started with. */
export const DEFAULT_MODEL_ID = 'default';
export const MODEL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** One row of GET /api/models. */
export interface ModelInfo {
  id: string;
  /** The manifest's name. */
  name: string;
  /** The bundle folder (with the server's log redactions: no home or repository paths). */
  dir: string;
  createdAt: string;
  default: boolean;
  /** A fine-tuned bundle's validation (manifest adaptation.validation: base vs fine-tuned J&F). */
  validation?: Record<string, unknown>;
  /** A fine-tuned bundle's base and the sessions it learned from. */
  adaptation?: { base: string | null; sessions: string[]; steps: number | null };
}

export interface ModelCatalogOptions {
  /** The server's own model sessions (not destroyed here). */
  defaultSessions: ModelSessions;
  /** Where fine-tuned bundles live (null: a server without a store offers only its own model). */
  modelsDir: string | null;
  /** Loads a bundle's sessions (the server's EP and thread settings). */
  create: (bundle: Bundle) => Promise<ModelSessions>;
  /** The server's path redaction for `dir`. */
  redact?: (s: string) => string;
}

function readManifest(dir: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export class ModelCatalog {
  private readonly loaded = new Map<string, Promise<ModelSessions>>();
  private destroyed = false;

  constructor(private readonly opts: ModelCatalogOptions) {}

  /** Where fine-tuned bundles are written (adapt/finetune-jobs.ts), or null. */
  get modelsDir(): string | null {
    return this.opts.modelsDir;
  }

  /** The default model first, then fine-tuned bundles newest first. */
  list(): ModelInfo[] {
    const redact = this.opts.redact ?? ((s: string) => s);
    const def = this.opts.defaultSessions.bundle;
    const defManifest = readManifest(def.dir);
    const out: ModelInfo[] = [
      {
        id: DEFAULT_MODEL_ID,
        name: def.name,
        dir: redact(resolve(def.dir)),
        createdAt: createdAt(defManifest, def.dir),
        default: true,
        ...validationOf(defManifest),
      },
    ];
    const rows: ModelInfo[] = [];
    for (const id of this.ids()) {
      const dir = join(this.opts.modelsDir!, id);
      const m = readManifest(dir);
      if (!m) continue;
      rows.push({ id, name: typeof m.name === 'string' ? m.name : id, dir: redact(dir), createdAt: createdAt(m, dir), default: false, ...validationOf(m) });
    }
    rows.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    return [...out, ...rows];
  }

  /** Whether `id` names a model of this catalog. */
  has(id: string): boolean {
    return id === DEFAULT_MODEL_ID || (MODEL_ID_RE.test(id) && this.ids().includes(id));
  }

  /**
   * The sessions of model `id` (undefined or `default`: the server's own), loaded on first use.
   * @throws CinesegError E_MODEL_UNKNOWN, and loadBundle's / ModelSessions.create's codes
   */
  async sessionsFor(id: string | undefined): Promise<ModelSessions> {
    if (id === undefined || id === DEFAULT_MODEL_ID) return this.opts.defaultSessions;
    if (this.destroyed) throw new CinesegError(ErrorCode.E_MODEL_UNKNOWN, 'the server is shutting down');
    if (!this.has(id))
      throw new CinesegError(ErrorCode.E_MODEL_UNKNOWN, `no model ${id.length <= 64 ? JSON.stringify(id) : '(a long id)'} (see GET /api/models)`, { details: { model: id.slice(0, 64) } });
    let p = this.loaded.get(id);
    if (!p) {
      const dir = join(this.opts.modelsDir!, id);
      p = (async () => {
        const real = await checkedRealpath(resolve(this.opts.modelsDir!), dir);
        if (real === null) throw new CinesegError(ErrorCode.E_MODEL_UNKNOWN, `model "${id}" is gone`);
        return this.opts.create(loadBundle(real));
      })();
      // A failed load is tried again next time (the folder may have been mid-write).
      p.catch(() => this.loaded.delete(id));
      this.loaded.set(id, p);
    }
    return p;
  }

  /** Releases every bundle loaded here (not the default's sessions). Idempotent. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((p) => p.then((s) => s.destroy()).catch(() => undefined)));
  }

  /** Folder names under the models folder that may be ids (hidden work folders left out). */
  private ids(): string[] {
    const d = this.opts.modelsDir;
    if (!d || !existsSync(d)) return [];
    try {
      return readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory() && MODEL_ID_RE.test(e.name))
        .map((e) => e.name);
    } catch {
      return [];
    }
  }
}

function createdAt(m: Record<string, unknown> | null, dir: string): string {
  const a = (m?.adaptation as { createdAt?: unknown } | undefined)?.createdAt;
  if (typeof a === 'string') return a;
  try {
    return statSync(join(dir, 'manifest.json')).mtime.toISOString();
  } catch {
    return new Date(0).toISOString();
  }
}

function validationOf(m: Record<string, unknown> | null): Pick<ModelInfo, 'validation' | 'adaptation'> {
  const ad = m?.adaptation as { validation?: Record<string, unknown>; base?: { name?: string }; sessions?: string[]; steps?: number | null } | undefined;
  if (!ad) return {};
  return {
    ...(ad.validation ? { validation: ad.validation } : {}),
    adaptation: { base: ad.base?.name ?? null, sessions: Array.isArray(ad.sessions) ? ad.sessions : [], steps: ad.steps ?? null },
  };
}
