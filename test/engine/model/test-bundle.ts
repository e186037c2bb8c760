/**
 * The bundle ONNX tests run on: the committed trained bundle when it exists, else the model
 * engineer's random-weight bundle (git-ignored, for development before training finishes).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const TRAINED_BUNDLE = `${root}models/tiny/bundle`;
export const RANDOM_BUNDLE = `${root}models/tiny/work/random-bundle`;
export const REPO_ROOT = root;

/** True when the trained bundle is present (quality thresholds only mean something then). */
export const hasTrainedBundle = existsSync(`${TRAINED_BUNDLE}/manifest.json`);

export function testBundleDir(): string {
  if (hasTrainedBundle) return TRAINED_BUNDLE;
  if (existsSync(`${RANDOM_BUNDLE}/manifest.json`)) return RANDOM_BUNDLE;
  throw new Error('no model bundle: expected models/tiny/bundle (committed) or models/tiny/work/random-bundle');
}
