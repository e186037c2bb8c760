import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTrainedBundle } from '../model/test-bundle.js';
import { ensureBuilt, qualityRun, sampleExists } from './track-helpers.js';

// Held-out clip (seed 1 is never used for training). Needs the shipped trained bundle and the
// generated samples (npm run samples). The acceptance target (J&F >= 0.85) is met by the mean over
// the three held-out ultrasound clips (0.816 / 0.862 / 0.891 with mask prompts); this clip alone
// measures 0.816 (object 2 leaves the fan at frame 36: the model now says "absent" a few frames
// late), so by default this guards that level against regressions, and CINESEG_QUALITY_MIN=0.85
// checks a candidate (CINESEG_TEST_MODEL=<bundle>) against the target.
const MIN_JF = Number(process.env.CINESEG_QUALITY_MIN ?? 0.78);
const SAMPLE = 'ultrasound-1';
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-quality-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.runIf((hasTrainedBundle || Boolean(process.env.CINESEG_TEST_MODEL)) && sampleExists(SAMPLE))(`cineseg track on ${SAMPLE} (shipped model, mask prompts)`, () => {
  beforeAll(async () => {
    await ensureBuilt();
  }, 300_000);

  it(`reaches J&F >= ${MIN_JF} with memory, and memory is worth >= 0.15 J&F`, async () => {
    const r = await qualityRun(SAMPLE, tmp);
    expect(r.stdout).toMatch(/fps on /);
    expect(r.withMemory).toBeGreaterThanOrEqual(MIN_JF);
    expect(r.withMemory - r.withoutMemory).toBeGreaterThanOrEqual(0.15);
  }, 300_000);
});
