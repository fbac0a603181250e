/**
 * Source detection: which language a source tree is, and how to install, build and start it. The report is
 * what `berth deploy --dry-run` prints and what the API returns before any build starts.
 */
import { detectNode } from './node.js';
import { detectPython } from './python.js';
import type { DetectReport } from './types.js';

export type { DetectReport, Finding, NodePlan, Problem, PythonPlan, DetectProblemCode } from './types.js';

/** Detects the source tree at `root`: Node.js when it has a package.json, else Python; a report with NO_ENTRY_POINT otherwise. */
export function detectSource(root: string): DetectReport {
  const node = detectNode(root);
  if (node) return node;
  const python = detectPython(root);
  if (python) return python;
  return {
    plan: null,
    findings: [],
    warnings: [],
    problems: [
      {
        code: 'NO_ENTRY_POINT',
        message: 'no package.json, pyproject.toml, requirements.txt, setup.py or Python entry script at the top of the source',
        fix: 'put the server at the top of the archive or repository (or name its folder as the subdirectory), with a package.json for Node.js or a pyproject.toml / requirements.txt / server.py for Python',
      },
    ],
  };
}
