/**
 * What a server writes to its log and to clients names clips, not machines: absolute paths under
 * the media folders become `<folder name>/…` (the clip id's own prefix), the cache, the player,
 * the repository and the home folder get short labels, and the live input (a file path, or a URL
 * that may carry a password) is never repeated. Paths of a user's disk commonly hold user names,
 * and DICOM files are often named after the patient; the DICOM reader itself never puts element
 * values into messages (source/dicom-cine-source.ts), this covers the names around them.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';

export class PathRedactor {
  private readonly pairs: [string, string][];

  /** `entries`: path (or any literal) → label; paths are also matched by their realpath. */
  constructor(entries: readonly (readonly [string, string])[]) {
    const all = new Map<string, string>();
    for (const [p, label] of entries) {
      if (p.length < 2) continue;
      all.set(p, label);
      if (p.startsWith('/')) {
        all.set(resolve(p), label);
        try {
          all.set(realpathSync(p), label);
        } catch {
          // Not there (yet): the literal is enough.
        }
      }
    }
    // Longest first: a media folder inside the repository keeps its own label.
    this.pairs = [...all].filter(([p]) => p.length >= 2 && p !== '/').sort((a, b) => b[0].length - a[0].length);
  }

  redact(text: string): string {
    let out = text;
    for (const [p, label] of this.pairs) if (out.includes(p)) out = out.split(p).join(label);
    return out;
  }
}
