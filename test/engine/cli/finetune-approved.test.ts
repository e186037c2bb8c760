/**
 * `cineseg finetune` with neither --data nor --session learns from the store's approved sessions:
 * with none approved it stops with E_INPUT_EMPTY before anything is decoded; with one approved it
 * takes that one (here its clip file is gone, so the error names that clip — not the clip of the
 * unapproved session beside it, which exists).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { approveSession } from '../../../engine/src/store/session-review.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { writeTinyClip } from '../server/tiny-clip.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-ft-approved-'));
const db = join(tmp, 'site.db');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  await ensureBuilt();
  await writeTinyClip(join(tmp, 'here.mp4'), { frames: 6 });
  const store = SessionStore.open(db);
  try {
    const mask = encodeMask(new Uint8Array(64 * 48).fill(1, 0, 200), 48, 64);
    const here = store.upsertClip({ path: join(tmp, 'here.mp4'), contentHash: 'a'.repeat(64), width: 64, height: 48, numFrames: 6, fps: 12 });
    const gone = store.upsertClip({ path: join(tmp, 'gone.mp4'), contentHash: 'b'.repeat(64), width: 64, height: 48, numFrames: 6, fps: 12 });
    for (const [id, clip] of [['unapproved', here.id], ['approved', gone.id]] as const) {
      store.createSession(clip, { id });
      store.putMask(id, { objectId: 1, frame: 0, rle: mask });
      store.setSessionStatus(id, 'closed');
    }
  } finally {
    store.destroy();
  }
}, 300_000);

describe('cineseg finetune without --data / --session', () => {
  it('needs an approved session (E_INPUT_EMPTY), then takes only the approved ones', async () => {
    const none = await cineseg(['finetune', '--store', db, '--out', join(tmp, 'out')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^E_INPUT_EMPTY: no approved session in site\.db/m);
    const store = SessionStore.open(db);
    try {
      approveSession(store, 'approved', 'tester');
    } finally {
      store.destroy();
    }
    const one = await cineseg(['finetune', '--store', db, '--out', join(tmp, 'out')]);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^E_INPUT_NOT_FOUND: clip .*gone\.mp4/m);
  }, 120_000);
});
