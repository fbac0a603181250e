import type { Deployment, DeploymentView } from '../core/index.js';

/** Where clients reach a deployment's MCP endpoint. */
export function endpointUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/s/${id}/mcp`;
}

export function uptimeSeconds(d: Deployment, now: number): number | null {
  if (d.status !== 'running' || !d.started_at) return null;
  return Math.max(0, Math.floor((now - Date.parse(d.started_at)) / 1000));
}

export function toView(d: Deployment, publicUrl: string, now = Date.now()): DeploymentView {
  return { ...d, endpoint: endpointUrl(publicUrl, d.id), uptime_s: uptimeSeconds(d, now) };
}
