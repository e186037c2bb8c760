/**
 * The parity tool's stand-in for Meta's `sam2._C` (models/parity/connected_components.py): its
 * 8-connected components against scipy.ndimage.label (an independent implementation) on seeded
 * random masks, odd sizes and batches included; `install()` putting it in `_C`'s place when the
 * extension is missing or cannot serve the CPU, and saying why; and run_parity's guard turning
 * Meta's "Skipping the post-processing step" warning into a refusal that gives the reason.
 * Meta's own code is not needed: a stand-in `sam2` package is written to a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-parity-cc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function python(script: string, extraPath: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/python3', ['-c', script], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: [REPO, ...extraPath].join(':') },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A folder holding a package `sam2`, with a `_C` module when `withC`. */
function fakeSam2(name: string, withC: boolean): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'sam2'), { recursive: true });
  writeFileSync(join(dir, 'sam2', '__init__.py'), '');
  if (withC) writeFileSync(join(dir, 'sam2', '_C.py'), 'def get_connected_componnets(x):\n    raise RuntimeError("inputs must be a CUDA tensor")\n');
  return dir;
}

describe('models/parity connected-components stand-in', () => {
  it('labels the same 8-connected components as scipy, with int32 areas on every pixel', () => {
    const r = python(`
import numpy as np, torch
from scipy import ndimage
from models.parity.connected_components import get_connected_componnets
rng = np.random.default_rng(19)
cases = [(1, 64, 64), (3, 17, 33), (2, 1, 9), (1, 128, 96)]
cases += [(int(rng.integers(1, 4)), int(rng.integers(1, 80)), int(rng.integers(1, 80))) for _ in range(20)]
for n, h, w in cases:
    m = (rng.random((n, 1, h, w)) < rng.uniform(0.1, 0.9)).astype(np.uint8)
    lab, cnt = get_connected_componnets(torch.from_numpy(m))
    assert lab.dtype == torch.int32 and cnt.dtype == torch.int32 and tuple(lab.shape) == (n, 1, h, w)
    lab, cnt = lab.numpy(), cnt.numpy()
    seen = set()
    for i in range(n):
        ref, k = ndimage.label(m[i, 0], structure=np.ones((3, 3)))
        areas = np.bincount(ref.ravel()); areas[0] = 0
        assert ((lab[i, 0] > 0) == (m[i, 0] > 0)).all(), "labels > 0 exactly on foreground"
        assert (cnt[i, 0] == areas[ref]).all(), "counts: the component's area"
        fg = ref > 0
        pairs = set(zip(ref[fg].tolist(), lab[i, 0][fg].tolist()))
        ours = set(lab[i, 0][fg].tolist())
        assert len(pairs) == k == len(ours), f"partition differs: scipy {k}, ours {len(ours)}"
        assert not (ours & seen), "labels unique across the batch"
        seen |= ours
# A ring: the background inside is its own component (a hole), the outside another.
ring = torch.zeros(1, 1, 8, 8, dtype=torch.uint8); ring[0, 0, 1:7, 1:7] = 1; ring[0, 0, 3:5, 3:5] = 0
lab, cnt = get_connected_componnets((ring == 0).to(torch.uint8))
assert int(cnt[0, 0, 3, 3]) == 4 and int(cnt[0, 0, 0, 0]) == 64 - 36, (cnt[0, 0, 3, 3], cnt[0, 0, 0, 0])
print("ok", len(cases))
`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok 24');
    expect(r.code).toBe(0);
  }, 120_000);

  it('installs itself as sam2._C when the extension is missing or cannot serve the CPU, and says why', () => {
    const missing = python(
      `
from models.parity.connected_components import install
print(install("cpu"))
from sam2 import _C
print(_C.__name__, hasattr(_C, "get_connected_componnets"))
`,
      [fakeSam2('no-c', false)],
    );
    expect(missing.stdout.trim().split('\n')).toEqual(['stand-in', 'models.parity.connected_components True']);
    expect(missing.stderr).toMatch(/sam2\._C is not built .*skip hole filling.*connected_components\.py/);

    const built = fakeSam2('with-c', true);
    const cpu = python('from models.parity.connected_components import install\nprint(install("cpu"))', [built]);
    expect(cpu.stdout.trim()).toBe('stand-in');
    expect(cpu.stderr).toMatch(/reference runs on the CPU/);
    const cuda = python('from models.parity.connected_components import install\nprint(install("cuda"))\nfrom sam2 import _C\nprint(_C.__file__.endswith("_C.py"))', [built]);
    expect(cuda.stdout.trim().split('\n')).toEqual(['meta', 'True']);
    expect(cuda.stderr).toBe('');
  }, 120_000);

  it("refuses, with the reason, a reference that skipped hole filling (Meta's warning)", () => {
    const r = python(`
import warnings
from models.parity.run_parity import HoleFillingGuard
class Ref:
    def add_points(self, *a):
        warnings.warn("No module named 'sam2._C'\\n\\nSkipping the post-processing step due to the error above.", category=UserWarning)
        return "masks"
    def propagate(self):
        return "fine"
g = HoleFillingGuard(Ref())
print(g.propagate())
try:
    g.add_points(0, 1, [])
    print("not refused")
except SystemExit as e:
    print(e)
`);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('fine');
    expect(lines[1]).toMatch(/^REFUSED: the reference skipped hole filling because its connected-components op failed \(No module named 'sam2\._C'\)/);
  }, 120_000);
});
