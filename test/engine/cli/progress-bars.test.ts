/**
 * The terminal bars of `track` and `batch` (cli-progress), drawn into a stream that says it is a
 * terminal: what they show (label, filled share, done/total; batch: the clips overall and one bar
 * per clip being tracked), and that nothing is written where the stream is not a terminal.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { batchProgress } from '../../../engine/src/cli/batch-report.js';
import { progressBar } from '../../../engine/src/cli/track-command.js';

function stream(tty: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY: tty, columns: 120 });
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  // Escape sequences (cursor moves, line clears) out: what a user reads.
  return { s, text: () => out.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, ''), raw: () => out };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('progress bars', () => {
  it('track: one bar with its label, the share done and done/total, ended by a newline', async () => {
    const t = stream(true);
    const bar = progressBar('tracking', t.s);
    bar.update(0, 10);
    bar.update(5, 10);
    await sleep(250);
    expect(t.text()).toContain(`tracking [${'#'.repeat(15)}${'.'.repeat(15)}] 5/10`);
    bar.update(10, 10);
    bar.end();
    await sleep(20);
    expect(t.text()).toContain(`tracking [${'#'.repeat(30)}] 10/10`);
    expect(t.raw().endsWith('\n')).toBe(true);
  });

  it('batch: the clips overall and a bar per clip being tracked, a finished clip counted', async () => {
    const t = stream(true);
    const p = batchProgress(3, 0, t.s);
    p.clip('a.mp4', 5, 10);
    p.clip('b.mp4', 2, 8);
    await sleep(250);
    const first = t.text();
    expect(first).toContain(`clips [${'.'.repeat(20)}] 0/3`);
    expect(first).toContain(`a.mp4 [${'#'.repeat(6)}${'.'.repeat(6)}] 5/10`);
    expect(first).toContain(`b.mp4 [${'#'.repeat(3)}${'.'.repeat(9)}] 2/8`);
    const mark = t.raw().length;
    p.clipEnd('a.mp4');
    p.clip('b.mp4', 6, 8);
    await sleep(250);
    const later = t
      .raw()
      .slice(mark)
      .replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '');
    expect(later).toContain(`clips [${'#'.repeat(7)}${'.'.repeat(13)}] 1/3`);
    expect(later).toContain(`b.mp4 [${'#'.repeat(9)}${'.'.repeat(3)}] 6/8`);
    p.end();
  });

  it('write nothing where stderr is not a terminal', async () => {
    const t = stream(false);
    const bar = progressBar('tracking', t.s);
    bar.update(3, 10);
    bar.end();
    const p = batchProgress(2, 0, t.s);
    p.clip('a.mp4', 1, 4);
    p.clipEnd();
    p.end();
    await sleep(150);
    expect(t.raw()).toBe('');
  });
});
