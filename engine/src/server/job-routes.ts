/**
 * "Improve the model" over HTTP (adapt/finetune-jobs.ts runs the jobs, model-catalog.ts offers
 * what they wrote):
 * - `POST /api/finetune` `{sessions?: string[], steps?: number}` → 202 `{jobId}`: fine-tunes the
 *   server's model on those sessions (default: every approved one); 409 E_JOB_BUSY while a job
 *   runs, 400 E_INPUT_EMPTY when nothing is approved, 404 E_SESSION_UNKNOWN.
 * - `GET /api/jobs` → `{jobs: JobInfo[]}` newest first; `GET /api/jobs/:id` → JobInfo
 *   `{jobId, kind, state, progress, step?, steps?, message?, code?, result?}`;
 *   `DELETE /api/jobs/:id` cancels it → the JobInfo (404 E_JOB_UNKNOWN).
 * - `GET /api/models` → `{models: ModelInfo[]}`: the server's model (`default: true`) and the
 *   fine-tuned bundles, each with its validation table.
 * A server without a store has no sessions to learn from: POST /api/finetune answers 404
 * E_SESSION_UNKNOWN there, and the model list holds only its own model.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { FinetuneJobs } from '../adapt/finetune-jobs.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { readJson } from './label-routes.js';
import type { ModelCatalog } from './model-catalog.js';

const FinetuneRequestSchema = z
  .object({
    sessions: z
      .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/))
      .max(1000)
      .optional(),
    /** Training steps (default: the server's setting, else finetune's 300). */
    steps: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();

export interface JobRoutes {
  /** Answers /api/finetune, /api/jobs[/…] and /api/models; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
}

function notAllowed(res: ServerResponse, allow: string): true {
  res.writeHead(405, { allow }).end();
  return true;
}

function json(res: ServerResponse, status: number, body: unknown, head = false): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(head ? undefined : JSON.stringify(body));
}

export function jobRoutes(deps: { jobs: FinetuneJobs | null; models: ModelCatalog }): JobRoutes {
  return {
    async handle(req, res, path) {
      const method = req.method ?? 'GET';
      if (path === '/api/models') {
        if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
        json(res, 200, { models: deps.models.list() }, method === 'HEAD');
        return true;
      }
      if (path === '/api/finetune') {
        if (method !== 'POST') return notAllowed(res, 'POST');
        const body = await readJson(req, 64 * 1024, ErrorCode.E_PROTOCOL_INVALID);
        const r = FinetuneRequestSchema.safeParse(body);
        if (!r.success)
          throw new CinesegError(
            ErrorCode.E_PROTOCOL_INVALID,
            `POST /api/finetune takes {sessions?: string[], steps?: number}: ${r.error.issues
              .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
              .slice(0, 3)
              .join('; ')}`,
          );
        if (!deps.jobs) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, 'this server keeps no store (started with --no-store): there are no sessions to learn from');
        const job = await deps.jobs.start({ ...(r.data.sessions ? { sessions: r.data.sessions } : {}), ...(r.data.steps === undefined ? {} : { steps: r.data.steps }) });
        res.setHeader('location', `/api/jobs/${job.jobId}`);
        json(res, 202, { jobId: job.jobId, state: job.state, sessions: job.sessions });
        return true;
      }
      if (path === '/api/jobs') {
        if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
        json(res, 200, { jobs: deps.jobs?.list() ?? [] }, method === 'HEAD');
        return true;
      }
      const m = /^\/api\/jobs\/([A-Za-z0-9_-]{1,64})$/.exec(path);
      if (!m) {
        if (path.startsWith('/api/jobs/')) throw new CinesegError(ErrorCode.E_JOB_UNKNOWN, 'no such job');
        return false;
      }
      const id = m[1]!;
      if (!deps.jobs) throw new CinesegError(ErrorCode.E_JOB_UNKNOWN, `no job "${id}"`);
      if (method === 'GET' || method === 'HEAD') json(res, 200, deps.jobs.get(id), method === 'HEAD');
      else if (method === 'DELETE') json(res, 200, deps.jobs.cancel(id));
      else res.writeHead(405, { allow: 'GET, HEAD, DELETE' }).end();
      return true;
    },
  };
}
