#!/usr/bin/env node
/**
 * Scores a tracking result against ground truth:
 *   node samples/dist/eval-cli.js <gt.json> <masks.json> [--json]
 * Prints J (region IoU), F (boundary F) and J&F per object and their means; --json prints the
 * full score object (including per-frame values).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { scoreTracks, type TrackFile } from './evaluate.js';

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({ options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`E_USAGE: ${(err as Error).message}\nusage: eval-cli <gt.json> <masks.json> [--json]\n`);
    process.exit(2);
  }
  const [gtPath, predPath] = parsed.positionals;
  if (!gtPath || !predPath || parsed.positionals.length !== 2) {
    process.stderr.write('E_USAGE: need exactly two files\nusage: eval-cli <gt.json> <masks.json> [--json]\n');
    process.exit(2);
  }
  const read = (p: string): TrackFile => JSON.parse(readFileSync(p, 'utf8')) as TrackFile;
  const score = scoreTracks(read(gtPath), read(predPath));
  if (parsed.values.json) {
    process.stdout.write(JSON.stringify(score) + '\n');
    return;
  }
  for (const o of score.objects) {
    process.stdout.write(`object ${o.objectId}: J ${o.j.toFixed(4)}  F ${o.f.toFixed(4)}  J&F ${((o.j + o.f) / 2).toFixed(4)}  (${o.frames} frames)\n`);
  }
  process.stdout.write(`mean: J ${score.j.toFixed(4)}  F ${score.f.toFixed(4)}  J&F ${score.jf.toFixed(4)}\n`);
}

try {
  main();
} catch (err) {
  const code = (err as { code?: unknown }).code;
  process.stderr.write(`${typeof code === 'string' && code.startsWith('E_') ? code : 'E_INTERNAL'}: ${(err as Error).message}\n`);
  process.exit(1);
}
