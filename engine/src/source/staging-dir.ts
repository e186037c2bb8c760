/**
 * A temporary folder an input is staged in for ffmpeg (DICOM cine frames, a volume's windowed
 * slices), with a `release()` that removes it once however often it is called (the input's
 * consumer and an error path may both release it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function stagingDir(prefix: string): Promise<{ dir: string; release: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  let released = false;
  return {
    dir,
    release: async () => {
      if (released) return;
      released = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
