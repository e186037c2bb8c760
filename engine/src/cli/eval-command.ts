/**
 * `cineseg eval --pred masks.json --gt gt.json`: DAVIS J, F and J&F per object and their mean.
 */
import type { Command } from 'commander';
import { evaluateVis, readVisJson, type EvalResult } from '../mask/vis-json.js';

/** Formats an evaluation as the table the CLI prints. */
export function formatEval(r: EvalResult): string {
  const lines = ['object      J      F    J&F  frames'];
  for (const o of r.objects) {
    lines.push(`${String(o.objectId).padStart(6)} ${o.J.toFixed(3).padStart(6)} ${o.F.toFixed(3).padStart(6)} ${o.JF.toFixed(3).padStart(6)} ${String(o.frames).padStart(7)}`);
  }
  lines.push(`  mean ${r.mean.J.toFixed(3).padStart(6)} ${r.mean.F.toFixed(3).padStart(6)} ${r.mean.JF.toFixed(3).padStart(6)}`);
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('score predicted masks against ground truth (DAVIS J, F, J&F per object)')
    .requiredOption('--pred <masks.json>', 'predictions (cineseg track output)')
    .requiredOption('--gt <gt.json>', 'ground truth (YouTube-VIS style, COCO RLE)')
    .option('--davis-trim', 'leave out the first and last frame, as the DAVIS 2017 evaluation does')
    .option('--json', 'print JSON instead of a table')
    .action((o: { pred: string; gt: string; davisTrim?: boolean; json?: boolean }) => {
      const r = evaluateVis(readVisJson(o.pred), readVisJson(o.gt), { skipFirstLast: Boolean(o.davisTrim) });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatEval(r)}\n`);
    });
}
