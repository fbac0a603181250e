/**
 * A small ZIP writer for tests: it writes what real tools refuse to (names with `..`, absolute paths,
 * symlink and device modes, sizes that lie, entries that share their data), so the extractor meets the
 * hostile archives it must refuse. Not for production use.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface TestEntry {
  name: string;
  data?: Buffer;
  /** Unix mode with its type bits (default 0o100644, a regular file; a name ending in / is a folder). */
  mode?: number;
  /** Deflate (default) or store. */
  method?: 'deflate' | 'store';
  /** Declared unpacked size, when it should lie (default: the real one). */
  declaredSize?: number;
  /** This entry's central record points at the local data of entry number `sameDataAs` (an overlapping bomb). */
  sameDataAs?: number;
}

export function writeZip(entries: TestEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  const meta: { crc: number; comp: number; size: number; method: number }[] = [];
  let offset = 0;
  entries.forEach((e, i) => {
    const name = Buffer.from(e.name, 'utf8');
    const data = e.data ?? Buffer.alloc(0);
    const method = e.method === 'store' || e.name.endsWith('/') ? 0 : 8;
    const body = method === 8 ? deflateRawSync(data) : data;
    if (e.sameDataAs !== undefined) {
      offsets.push(offsets[e.sameDataAs]!);
      meta.push(meta[e.sameDataAs]!);
    } else {
      const m = { crc: crc32(data), comp: body.length, size: e.declaredSize ?? data.length, method };
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(0x0800, 6); // UTF-8 names
      local.writeUInt16LE(m.method, 8);
      local.writeUInt16LE(0x21, 12);
      local.writeUInt32LE(m.crc, 14);
      local.writeUInt32LE(m.comp, 18);
      local.writeUInt32LE(m.size, 22);
      local.writeUInt16LE(name.length, 26);
      offsets.push(offset);
      meta.push(m);
      locals.push(local, name, body);
      offset += local.length + name.length + body.length;
    }
    const m = meta[i]!;
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix: the high external attributes are a mode
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(m.method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(m.crc, 16);
    central.writeUInt32LE(m.comp, 20);
    central.writeUInt32LE(m.size, 24);
    central.writeUInt16LE(name.length, 28);
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offsets[i]!, 42);
    centrals.push(central, name);
  });
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
