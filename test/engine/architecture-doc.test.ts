/**
 * docs/architecture.md lists every file of engine/src with its top comment's first sentence, as
 * scripts/gen-architecture.mjs writes it: a file added, moved or removed without regenerating the
 * page fails here, and so does a file that opens without a contract.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs script without type declarations
import { ARCHITECTURE_MD, sourceFiles, summaryOf, updatedDoc, SRC } from '../../scripts/gen-architecture.mjs';

describe('docs/architecture.md', () => {
  const doc = readFileSync(ARCHITECTURE_MD, 'utf8');

  it('lists every file of engine/src', () => {
    const files: string[] = sourceFiles();
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => !doc.includes(`- \`${f}\``))).toEqual([]);
  });

  it('is what scripts/gen-architecture.mjs writes (run `node scripts/gen-architecture.mjs`)', () => {
    expect(doc).toBe(updatedDoc(doc));
  });

  it('has a top comment for every file', () => {
    const bare = (sourceFiles() as string[]).filter((f) => summaryOf(readFileSync(`${SRC}/${f}`, 'utf8')) === '');
    expect(bare).toEqual([]);
  });

  it('takes the first sentence of a top comment', () => {
    expect(summaryOf('/**\n * The one thing. And more,\n * e.g. this.\n */\nimport x;')).toBe('The one thing.');
    expect(summaryOf('/**\n * A lead-in: e.g. a list.\n */')).toBe('A lead-in: e.g. a list.');
    expect(summaryOf('// Line one\n// goes on. Next.\nconst a = 1;')).toBe('Line one goes on.');
    expect(summaryOf('import x from "y";\n/** late */')).toBe('');
  });
});
