/** Bookkeeping both workload drivers share: checks, label matching, what a previous Berth left, the work folder. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import { LABEL_DEPLOYMENT, LABEL_REVISION, type Workload, type WorkloadState } from './types.js';

const ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Throws VALIDATION_FAILED for a workload no driver should take (a bad id could name a folder outside the data dir). */
export function checkWorkload(w: Workload): void {
  const bad = (why: string): never => {
    throw new BerthError('VALIDATION_FAILED', `Invalid workload: ${why}`);
  };
  if (typeof w !== 'object' || w === null) bad('not an object');
  if (typeof w.deploymentId !== 'string' || !ID.test(w.deploymentId) || w.deploymentId.startsWith('.')) bad(`deploymentId ${JSON.stringify(w.deploymentId)}`);
  if (!Number.isSafeInteger(w.revision) || w.revision < 1) bad(`revision must be a positive integer, got ${String(w.revision)}`);
  if (w.labels?.[LABEL_DEPLOYMENT] !== w.deploymentId || w.labels[LABEL_REVISION] !== String(w.revision)) bad(`labels must include ${LABEL_DEPLOYMENT}=${w.deploymentId} and ${LABEL_REVISION}=${w.revision}`);
  // An image may run its own command (launch.command empty).
  if (typeof w.launch?.command !== 'string' || (w.launch.command === '' && w.launch.image === undefined)) bad('launch.command must be a non-empty string');
  if (!Array.isArray(w.launch.args) || w.launch.args.some((a) => typeof a !== 'string')) bad('launch.args must be strings');
}

export function checkDeploymentId(id: string): void {
  if (typeof id !== 'string' || !ID.test(id) || id.startsWith('.')) throw new BerthError('VALIDATION_FAILED', `Invalid deployment id ${JSON.stringify(id)}`);
}

/** True when `labels` has every key/value of `filter`. */
export function matchesLabels(labels: Record<string, string>, filter: Record<string, string> = {}): boolean {
  return Object.entries(filter).every(([k, v]) => labels[k] === v);
}

/** `${dataDir}/work/<id>`: the deployment's working folder (HOME, default cwd). */
export function workFolder(dataDir: string, id: string): string {
  checkDeploymentId(id);
  return path.join(dataDir, 'work', id);
}

export async function removeWorkFolder(dataDir: string, id: string): Promise<void> {
  await fsp.rm(workFolder(dataDir, id), { recursive: true, force: true });
}

/** What `remove` deletes once a deployment's workloads are stopped, in every driver: its work folder, and its logs unless kept. */
export async function removeLeftovers(dataDir: string, logs: { remove(id: string): Promise<void> }, id: string, keepLogs: boolean): Promise<void> {
  await removeWorkFolder(dataDir, id);
  if (!keepLogs) await logs.remove(id);
}

/** A live process found from a pid file. */
export interface FoundLike {
  deploymentId: string;
  pid: number;
  labels: Record<string, string>;
  mine: boolean;
}

/** Workloads a previous Berth left running, one per deployment and revision, as far as their pid files tell. */
export function leftBehind(found: FoundLike[]): WorkloadState[] {
  const byKey = new Map<string, WorkloadState>();
  for (const f of found) {
    if (f.mine) continue;
    const revision = Number(f.labels[LABEL_REVISION] ?? 0);
    const key = `${f.deploymentId}#${revision}`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { deploymentId: f.deploymentId, revision, labels: f.labels, phase: 'running', pids: [], lastExit: null, address: null, owned: false }));
    s.pids.push(f.pid);
  }
  return [...byKey.values()];
}
