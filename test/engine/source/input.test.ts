import { mkdirSync, writeFileSync, readlinkSync, readdirSync, existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCinesegError } from 'cineseg';
import { classifyInput, listImageSequence, resolveInput } from '../../../engine/src/source/input.js';
import { makeTmp } from '../decode/media-fixtures.js';

const tmp = makeTmp('cineseg-input-');
afterAll(() => tmp.cleanup());

describe('input resolution', () => {
  it('classifies inputs by form', () => {
    expect(classifyInput('-')).toBe('stdin');
    for (const u of ['rtsp://cam/1', 'srt://h:9000', 'udp://127.0.0.1:5000', 'tcp://h:1', 'http://h/x.ts', 'HTTPS://h/live.m3u8']) expect(classifyInput(u)).toBe('live-url');
    expect(classifyInput('clip.mp4')).toBe('path');
    expect(classifyInput('file:///tmp/a.mp4')).toBe('path');
    let code = '';
    try {
      classifyInput('ftp://h/a.mp4');
    } catch (e) {
      code = isCinesegError(e) ? e.code : 'other';
    }
    expect(code).toBe('E_INPUT_UNSUPPORTED');
  });

  it('sorts image names naturally and ignores other files', async () => {
    const dir = join(tmp.dir, 'seq');
    mkdirSync(dir);
    for (const n of ['f10.png', 'f2.png', 'f1.PNG', 'f100.png', 'readme.md', 'f9.png']) writeFileSync(join(dir, n), 'x');
    expect(await listImageSequence(dir)).toEqual(['f1.PNG', 'f2.png', 'f9.png', 'f10.png', 'f100.png']);
  });

  it('stages a folder as numbered links in that order and removes them on release', async () => {
    const dir = join(tmp.dir, 'seq2');
    mkdirSync(dir);
    for (const n of ['b-2.jpg', 'b-10.jpeg', 'b-1.jpg']) writeFileSync(join(dir, n), 'x');
    const r = await resolveInput(dir, { imageFps: 5 });
    expect(r.kind).toBe('image-folder');
    expect(r.args.slice(0, 4)).toEqual(['-f', 'image2', '-framerate', '5']);
    const pattern = r.args.at(-1)!;
    const staged = pattern.slice(0, pattern.lastIndexOf('/'));
    expect(readdirSync(staged).sort()).toEqual(['000000.jpg', '000001.jpg', '000002.jpg']);
    expect(['000000.jpg', '000001.jpg', '000002.jpg'].map((n) => readlinkSync(join(staged, n)))).toEqual(['b-1.jpg', 'b-2.jpg', 'b-10.jpeg'].map((n) => join(dir, n)));
    await r.release();
    expect(existsSync(staged)).toBe(false);
  });

  it('rejects folders mixing png and jpg, and things that are not files', async () => {
    const dir = join(tmp.dir, 'mixed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a1.png'), 'x');
    writeFileSync(join(dir, 'a2.jpg'), 'x');
    const codes: string[] = [];
    for (const input of [dir, '/dev/null']) {
      try {
        await resolveInput(input);
        codes.push('none');
      } catch (e) {
        codes.push(isCinesegError(e) ? e.code : 'other');
      }
    }
    expect(codes).toEqual(['E_INPUT_UNSUPPORTED', 'E_INPUT_UNSUPPORTED']);
    symlinkSync('/nonexistent/target.mp4', join(tmp.dir, 'dangling.mp4'));
    await expect(resolveInput(join(tmp.dir, 'dangling.mp4'))).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
  });
});
