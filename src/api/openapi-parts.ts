/** Helpers the parts of the OpenAPI document share (openapi.ts and the parts it spreads in). */
import { ERROR_CATALOGUE } from '../core/errors.js';

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: unknown) => ({ 'application/json': { schema } });

/** Error responses by HTTP status; codes that share a status share its description. */
export const errorResponses = (...codes: (keyof typeof ERROR_CATALOGUE)[]) => {
  const out: Record<string, { description: string; content: unknown }> = {};
  for (const c of codes) {
    const status = String(ERROR_CATALOGUE[c].status);
    const line = `${c}: ${ERROR_CATALOGUE[c].message}`;
    out[status] = { description: out[status] ? `${out[status].description}; ${line}` : line, content: json(ref('Error')) };
  }
  return out;
};
