/**
 * A store-only (uncompressed) ZIP writer for downloads of several files, e.g. a PNG mask sequence
 * from GET /api/sessions/:id/export?format=png. PNGs are deflated already, so storing them costs
 * nothing in size and keeps this a few lines: local headers, the data, a central directory and
 * its end record (PKWARE APPNOTE 4.3), names flagged UTF-8. No ZIP64: an archive stays under
 * 4 GiB and 65 535 entries, which the exporters' outputs do (E_OUTPUT_WRITE otherwise).
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { crc32 } from './png.js';

export interface ZipEntry {
  /** Path inside the archive, `/`-separated, relative. */
  name: string;
  data: Uint8Array;
}

/** DOS date and time of `d` (local time, 2-second resolution), as zip headers hold them. */
function dosDateTime(d: Date): { date: number; time: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
  };
}

/** The archive's bytes. @throws CinesegError E_OUTPUT_WRITE past the no-ZIP64 bounds, E_USAGE for a bad name */
export function zipStore(entries: readonly ZipEntry[], when = new Date()): Buffer {
  if (entries.length > 0xffff) throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `a zip without ZIP64 holds at most 65535 files, not ${entries.length}`);
  const { date, time } = dosDateTime(when);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    if (!e.name || e.name.startsWith('/') || e.name.split('/').includes('..')) throw new CinesegError(ErrorCode.E_USAGE, `zip entry name "${e.name}" must be a relative path`);
    const name = Buffer.from(e.name, 'utf8');
    const crc = (crc32(e.data) ^ 0xffffffff) >>> 0;
    const size = e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0
    local.writeUInt16LE(0x0800, 6); // flags: name is UTF-8
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(size, 18); // compressed size
    local.writeUInt32LE(size, 22); // uncompressed size
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // extra length
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(size, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    // extra, comment, disk number, internal attributes: 0
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    centrals.push(central, name);
    offset += 30 + name.length + size;
    if (offset > 0xffffffff) throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, 'a zip without ZIP64 holds at most 4 GiB');
  }
  const cdSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}
