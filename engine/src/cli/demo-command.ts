/**
 * `cineseg demo`: the README's first line. The shipped model on the held-out synthetic clips
 * (ultrasound and endoscopy, seed 1): tracks every object from its prompts.json, writes masks to
 * `.cache/demo/*.json` and prints J&F against ground truth and the tracking speed; then serves the
 * player on the sample clips (unless --no-serve) so the same command ends in a browser.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import { evaluateVis, readVisJson, type EvalResult } from '../mask/vis-json.js';
import { loadBundle } from '../model/bundle.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { cacheDir, defaultBundleDir, GENERATED_SAMPLES_DIR } from '../paths.js';
import { trackVideo, type CliPrompt } from './track-command.js';
import { startServer } from '../server/http-server.js';
import { defaultStoreSpec } from '../store/open-store.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';

export type PromptKind = 'point' | 'box' | 'mask';

/** Prompts of a sample's prompts.json (samples/src/prompts.ts) as CLI prompts. */
export function samplePrompts(sampleDir: string, kind: PromptKind): CliPrompt[] {
  const path = join(sampleDir, 'prompts.json');
  if (!existsSync(path)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `${path} not found; run npm run samples first`);
  const p = JSON.parse(readFileSync(path, 'utf8')) as {
    objects: { object_id: number; frame: number; point: [number, number]; box: [number, number, number, number]; mask: string }[];
  };
  return p.objects.map((o): CliPrompt => {
    if (kind === 'point') return { kind: 'point', objectId: o.object_id, frame: o.frame, point: { x: o.point[0], y: o.point[1], label: 1 } };
    if (kind === 'box') return { kind: 'box', objectId: o.object_id, frame: o.frame, box: o.box };
    return { kind: 'mask', objectId: o.object_id, frame: o.frame, path: join(sampleDir, o.mask) };
  });
}

export interface DemoRow {
  sample: string;
  eval: EvalResult;
  fps: number;
  frames: number;
  out: string;
}

/** Runs the demo over `samples` (folder names under samples/generated). */
export async function runDemo(opts: {
  samples?: string[];
  model?: string;
  prompt?: PromptKind;
  memory?: boolean;
  ep?: ExecutionProviderRequest;
  strictEp?: boolean;
  verbose?: boolean;
  outDir?: string;
  log?: (l: string) => void;
}): Promise<DemoRow[]> {
  const samples = opts.samples ?? ['ultrasound-1', 'endoscopy-1'];
  const outDir = opts.outDir ?? cacheDir('demo');
  const sessions = await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), {
    ep: opts.ep ?? 'auto',
    ...(opts.strictEp ? { strictEp: true } : {}),
    ...(opts.verbose ? { verbose: true } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  try {
    const rows: DemoRow[] = [];
    for (const s of samples) {
      const dir = join(GENERATED_SAMPLES_DIR, s);
      const out = join(outDir, `${s}.json`);
      const res = await trackVideo({
        video: join(dir, 'clip.mp4'),
        prompts: samplePrompts(dir, opts.prompt ?? 'mask'),
        memory: opts.memory ?? true,
        out,
        sessions,
      });
      rows.push({ sample: s, eval: evaluateVis(res.json, readVisJson(join(dir, 'gt.json'))), fps: res.fps, frames: res.framesVisited, out });
    }
    return rows;
  } finally {
    await sessions.destroy();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('track the held-out synthetic ultrasound and endoscopy clips with the shipped model; print J&F and fps')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle)')
    .option('--prompt <kind>', 'prompt from prompts.json: mask, box or point', 'mask')
    .option('--no-memory', 'ablation: no memory attention')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--no-serve', 'exit after tracking instead of serving the player')
    .option('--port <n>', 'player port (0 picks a free one)', '8080')
    .action(async (o: { model?: string; prompt: string; memory: boolean; ep: string; strictEp?: boolean; verbose?: boolean; serve: boolean; port: string }) => {
      if (!['mask', 'box', 'point'].includes(o.prompt)) throw new CinesegError(ErrorCode.E_USAGE, '--prompt must be mask, box or point');
      const rows = await runDemo({
        ...(o.model ? { model: o.model } : {}),
        prompt: o.prompt as PromptKind,
        memory: o.memory,
        ...epFlags(o),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      for (const r of rows) {
        process.stdout.write(
          `${r.sample.padEnd(14)} J&F ${r.eval.mean.JF.toFixed(3)} (J ${r.eval.mean.J.toFixed(3)}, F ${r.eval.mean.F.toFixed(3)}) ` + `${r.frames} frames at ${r.fps.toFixed(1)} fps -> ${r.out}\n`,
        );
      }
      if (!o.serve) return;
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CinesegError(ErrorCode.E_USAGE, `--port must be 0..65535, got "${o.port}"`);
      const server = await startServer({
        port,
        ...(o.model ? { model: o.model } : {}),
        ...epFlags(o),
        store: defaultStoreSpec(),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(`player: open ${server.url} (Ctrl-C to stop)\n`);
      const stop = (): void => {
        void server.destroy().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
