// The __metadata__ of a safetensors file without reading its tensors (a WRN-34-10 checkpoint is
// hundreds of MB; resuming only needs to know which step a file holds).

import { open } from 'node:fs/promises';

/** The __metadata__ of a safetensors file ({} when it has none), reading only the header. */
export async function readSafetensorsHeader(path: string): Promise<Record<string, string>> {
  const handle = await open(path, 'r');
  try {
    const size = Buffer.alloc(8);
    await handle.read(size, 0, 8, 0);
    const n = Number(size.readBigUInt64LE(0));
    if (n > 100_000_000) throw new Error(`${path}: header of ${n} bytes`);
    const header = Buffer.alloc(n);
    await handle.read(header, 0, n, 8);
    const parsed = JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> };
    return parsed.__metadata__ ?? {};
  } finally {
    await handle.close();
  }
}
