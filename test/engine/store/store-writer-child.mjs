/**
 * The writer the store crash test (crash.test.ts) kills: it writes masks of one session through the
 * AnnotationStore a spec opens (SQLite file or postgres:// URL) and prints `ack <object> <frame>
 * <id> <sha1 of counts>` for each mask only after its putMasks resolved, i.e. after COMMIT. It
 * resumes after the complete frames already stored, and now and then corrects an earlier frame,
 * so supersession is killed mid-way too. Plain JavaScript over engine/dist: a child of the test.
 *
 * node store-writer-child.mjs <spec> <sessionId> <seed> <frames> [pauseMs]
 * (pauseMs between batches: the pace of a tracker, so a kill lands mid-run)
 */
import { createHash } from 'node:crypto';
import { encodeMaskCompressed } from '../../../engine/dist/mask/rle.js';
import { openStore } from '../../../engine/dist/store/open-store.js';
import { prng } from '../../fixtures/prng.mjs';

const [spec, sessionId, seedArg, framesArg, pauseArg] = process.argv.slice(2);
const pauseMs = Number(pauseArg ?? 0);
const rand = prng(Number(seedArg));
const frames = Number(framesArg);
const W = 128;
const H = 96;

function blob() {
  const m = new Uint8Array(W * H);
  const x0 = Math.floor(rand() * 60);
  const y0 = Math.floor(rand() * 40);
  const w = 20 + Math.floor(rand() * 40);
  const h = 15 + Math.floor(rand() * 30);
  for (let y = y0; y < Math.min(H, y0 + h); y++) for (let x = x0; x < Math.min(W, x0 + w); x++) m[y * W + x] = 1;
  return encodeMaskCompressed(m, H, W);
}

const store = await openStore(spec);
try {
  await write();
} catch (err) {
  // One coded line, as the CLI prints: the test reads the code.
  process.stderr.write(`${err.code ?? 'E_UNKNOWN'}: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  await store.destroy().catch(() => undefined);
}

async function write() {
  let next = (await store.completeFrames(sessionId)).length;
  while (next < frames) {
    const batch = [];
    if (next > 0 && rand() < 0.2) {
      // A correction of an earlier frame: a new row supersedes the stored one.
      const f = Math.floor(rand() * next);
      batch.push({ objectId: 1 + Math.floor(rand() * 2), frame: f, rle: blob(), origin: 'edit' });
    } else {
      const n = Math.min(frames - next, 1 + Math.floor(rand() * 6));
      for (let f = next; f < next + n; f++) for (const objectId of [1, 2]) batch.push({ objectId, frame: f, rle: blob(), score: rand() });
      next += n;
    }
    const recs = await store.putMasks(sessionId, batch);
    let out = '';
    for (const r of recs) out += `ack ${r.objectId} ${r.frame} ${r.id} ${createHash('sha1').update(r.rle.counts).digest('hex')}\n`;
    process.stdout.write(out);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  process.stdout.write('done\n');
}
