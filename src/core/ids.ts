import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Random lowercase alphanumerics; `length` 12 gives ~62 bits, unguessable for routing. */
export function randomSuffix(length = 12): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** Turn a display name into a DNS-label-safe slug (max 40 chars). */
export function slugify(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return slug || 'server';
}

/** A deployment id such as `everything-k3x9f2ab01cd`: readable prefix, unguessable suffix, valid DNS label. */
export function newDeploymentId(name: string): string {
  return `${slugify(name)}-${randomSuffix()}`;
}

export const DEPLOYMENT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
