/**
 * Source detection: which language a source tree is, and how to install, build and start it; its own Dockerfile,
 * its smithery.yaml, and the transport it speaks. The report is what `berth deploy --dry-run` prints and what the
 * API returns before any build starts (docs/detection.md says what comes from which file).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { detectNode } from './node.js';
import { detectPython } from './python.js';
import { readSmithery } from './smithery.js';
import { detectTransport } from './transport.js';
import type { DetectReport, Finding, Problem } from './types.js';

export type { DetectReport, Finding, NodePlan, Problem, PythonPlan, DetectProblemCode, EnvHint, TransportInfo } from './types.js';

const DOCKERFILES = ['Dockerfile', 'Containerfile'];

/** Detects the source tree at `root`: Node.js when it has a package.json, else Python; a report with NO_ENTRY_POINT otherwise. */
export function detectSource(root: string): DetectReport {
  const findings: Finding[] = [];
  const warnings: Problem[] = [];
  const dockerfile = DOCKERFILES.find((f) => isFile(path.join(root, f))) ?? null;
  if (dockerfile) findings.push({ what: 'Dockerfile', value: 'used as is by the image builder (container runtime)', from: dockerfile });
  const smithery = readSmithery(root, findings, warnings);
  const hint = { start: smithery?.start ?? null };
  const base: DetectReport | null = detectNode(root, hint) ?? detectPython(root, hint);
  const report: DetectReport = base
    ? { ...base, findings: [...findings, ...base.findings], warnings: [...warnings, ...base.warnings] }
    : { plan: null, findings, warnings, problems: [] };
  report.dockerfile = dockerfile;
  if (smithery && smithery.env.length > 0) report.env = smithery.env;
  if (!base) {
    if (dockerfile) {
      report.warnings.push({
        code: 'DOCKERFILE_ONLY',
        message: `Only a ${dockerfile}: no package.json or Python project to install and start on the process runtime`,
        fix: 'deploy it with --runtime container (its image is built from the Dockerfile), or add a package.json / pyproject.toml',
      });
    } else {
      report.problems.push({
        code: 'NO_ENTRY_POINT',
        message: 'no package.json, pyproject.toml, requirements.txt, setup.py or Python entry script at the top of the source',
        fix: 'put the server at the top of the archive or repository (or name its folder as the subdirectory), with a package.json for Node.js or a pyproject.toml / requirements.txt / server.py for Python',
      });
    }
  }
  const python = report.plan ? report.plan.language === 'python' : !existsSync(path.join(root, 'package.json'));
  report.transport = detectTransport(root, { python, start: report.plan?.start ?? null, startScript: startScriptOf(root), smithery: smithery?.type ?? null }, report.findings);
  return report;
}

function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}

/** package.json's scripts.start, for its transport flags. */
function startScriptOf(root: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts?: { start?: unknown } };
    return typeof pkg.scripts?.start === 'string' ? pkg.scripts.start : undefined;
  } catch {
    return undefined;
  }
}
