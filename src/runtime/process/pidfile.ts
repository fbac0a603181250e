import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** Contents of `${dataDir}/run/<deploymentId>.<instanceKey>.pid`. */
export interface PidFile {
  pid: number;
  /** `/proc/<pid>/stat` field 22; guards against killing a process that reused the pid. */
  startTime: string;
  command: string;
  deploymentId: string;
  instanceKey: string;
  sandbox: 'bubblewrap' | 'none';
  /** The workload's owner labels (berth.deployment, berth.revision), when it was launched as one. */
  labels?: Record<string, string>;
}

export function pidFilePath(runDir: string, deploymentId: string, instanceKey: string): string {
  return path.join(runDir, `${deploymentId}.${instanceKey}.pid`);
}

/** Writes atomically (temp file + rename) so a crash never leaves half a pid file. */
export async function writePidFile(file: string, data: PidFile): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(data)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

export async function removePidFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
}

function isPidFile(v: unknown): v is PidFile {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    Number.isInteger(o.pid) &&
    (o.pid as number) > 1 &&
    typeof o.startTime === 'string' &&
    typeof o.command === 'string' &&
    typeof o.deploymentId === 'string' &&
    typeof o.instanceKey === 'string'
  );
}

/** Every pid file in `runDir`; unreadable or malformed ones come back with `data: null`. */
export async function listPidFiles(runDir: string): Promise<{ file: string; data: PidFile | null }[]> {
  let names: string[];
  try {
    names = await fsp.readdir(runDir);
  } catch {
    return [];
  }
  const out: { file: string; data: PidFile | null }[] = [];
  for (const name of names.filter((n) => n.endsWith('.pid'))) {
    const file = path.join(runDir, name);
    try {
      const parsed: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
      out.push({ file, data: isPidFile(parsed) ? parsed : null });
    } catch {
      out.push({ file, data: null });
    }
  }
  return out;
}
