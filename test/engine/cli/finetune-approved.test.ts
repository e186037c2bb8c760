/**
 * `cineseg finetune` with neither --data nor --session learns from the store's approved sessions,
 * on both store backends (`--store <file>` and `--store postgres://…`): with none approved it stops
 * with E_INPUT_EMPTY before anything is decoded; with one approved it takes that one (here its
 * clip file is gone, so the error names that clip — not the clip of the unapproved session beside
 * it, which exists). `--session <id>` takes a session by id whatever its approval.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../engine/src/bench/local-postgres.js';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { approveSession } from '../../../engine/src/store/session-review.js';
import { writeTinyClip } from '../server/tiny-clip.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-ft-approved-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  await ensureBuilt();
  await writeTinyClip(join(tmp, 'here.mp4'), { frames: 6 });
}, 300_000);

const backends = [
  { name: 'SQLite', start: async () => ({ spec: join(tmp, 'site.db'), where: /site\.db/, stop: async () => undefined }) },
  {
    name: 'PostgreSQL',
    start: async () => {
      const pg = await startPostgres();
      return { spec: pg.url, where: /postgres:\/\/cineseg@127\.0\.0\.1:\d+\/cineseg/, stop: () => pg.stop() };
    },
  },
];

describe.each(backends)('cineseg finetune without --data / --session on $name', ({ start }) => {
  let spec: string;
  let where: RegExp;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ spec, where, stop } = await start());
    const store = await openStore(spec);
    try {
      const mask = encodeMask(new Uint8Array(64 * 48).fill(1, 0, 200), 48, 64);
      const here = await store.upsertClip({ path: join(tmp, 'here.mp4'), contentHash: 'a'.repeat(64), width: 64, height: 48, numFrames: 6, fps: 12 });
      const gone = await store.upsertClip({ path: join(tmp, 'gone.mp4'), contentHash: 'b'.repeat(64), width: 64, height: 48, numFrames: 6, fps: 12 });
      for (const [id, clip] of [
        ['unapproved', here.id],
        ['approved', gone.id],
      ] as const) {
        await store.createSession(clip, { id });
        await store.putMasks(id, [{ objectId: 1, frame: 0, rle: mask }]);
        await store.setSessionStatus(id, 'closed');
      }
    } finally {
      await store.destroy();
    }
  }, 300_000);
  afterAll(async () => {
    await stop?.();
  }, 120_000);

  it('needs an approved session (E_INPUT_EMPTY), then takes only the approved ones', async () => {
    const out = join(tmp, `out-${spec.length}`);
    const none = await cineseg(['finetune', '--store', spec, '--out', out]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^E_INPUT_EMPTY: no approved session in /m);
    expect(none.stderr).toMatch(where);
    // Approved through another store object than the one that wrote the sessions.
    const store = await openStore(spec);
    try {
      await approveSession(store, 'approved', 'tester');
    } finally {
      await store.destroy();
    }
    const one = await cineseg(['finetune', '--store', spec, '--out', out]);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^E_INPUT_NOT_FOUND: clip .*gone\.mp4/m);
    const named = await cineseg(['finetune', '--store', spec, '--session', 'nope', '--out', out]);
    expect(named.code).toBe(1);
    expect(named.stderr).toMatch(/^E_SESSION_UNKNOWN: /m);
  }, 120_000);
});
