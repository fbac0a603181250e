/**
 * Pushes through the Docker Engine API. Podman's compatible push takes `tlsVerify=false` for a registry served over
 * plain HTTP (BERTH_REGISTRY_INSECURE, a registry on loopback); Docker ignores it and trusts its own daemon
 * settings. The registry's digest comes from the push's last message (`aux.Digest`, or a `digest: sha256:…`
 * status line), else from the image's RepoDigests.
 */
import type Dockerode from 'dockerode';
import { BerthError } from '../../core/errors.js';
import { engineError } from './engine.js';

export interface PushOptions {
  insecure: boolean;
  timeoutMs: number;
  log(line: string): void;
}

/** Splits `host[:port]/path:tag` into the repository and the tag (a port's colon is not a tag's). */
export function splitRef(ref: string): { repo: string; tag: string } {
  const at = ref.lastIndexOf(':');
  if (at === -1 || ref.indexOf('/', at) !== -1) return { repo: ref, tag: 'latest' };
  return { repo: ref.slice(0, at), tag: ref.slice(at + 1) };
}

/** Pushes `ref` (repo:tag) and returns the registry's manifest digest (sha256:…). */
export async function pushImage(docker: Dockerode, ref: string, opts: PushOptions): Promise<string> {
  const { repo, tag } = splitRef(ref);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let digest: string | null = null;
  let error: string | null = null;
  const tail: string[] = [];
  const note = (line: string): void => {
    const l = line.length > 2000 ? `${line.slice(0, 2000)}…` : line;
    tail.push(l);
    if (tail.length > 20) tail.shift();
    opts.log(l);
    const m = /digest:\s*(sha256:[a-f0-9]{64})/.exec(l);
    if (m) digest = m[1]!;
  };
  try {
    const stream = (await docker.getImage(repo).push({ tag, ...(opts.insecure ? { tlsVerify: false } : {}), authconfig: {}, abortSignal: signal })) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (m: { status?: string; stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { Digest?: string }; id?: string }) => {
          if (typeof m.error === 'string') error = m.error;
          if (m.aux?.Digest) digest = m.aux.Digest;
          const text = m.stream ?? (m.status ? `${m.id ? `${m.id}: ` : ''}${m.status}` : undefined);
          if (text !== undefined) for (const l of text.split(/\r?\n/)) if (l.trim() !== '') note(l.trimEnd());
        },
      );
    });
  } catch (err) {
    if (signal.aborted) throw new BerthError('PUSH_FAILED', `Pushing ${ref} took longer than ${Math.round(opts.timeoutMs / 1000)} s`);
    const e = engineError(err, `Pushing ${ref}`);
    throw e.code === 'ENGINE_UNAVAILABLE' ? e : new BerthError('PUSH_FAILED', `${e.message}\n${tail.join('\n')}`);
  }
  if (error !== null) throw new BerthError('PUSH_FAILED', `Pushing ${ref} failed: ${String(error)}\n${tail.join('\n')}`);
  if (digest) return digest;
  // Podman records the pushed digest among the image's RepoDigests.
  const info = await docker.getImage(ref).inspect();
  const found = (info.RepoDigests ?? []).find((d) => d.startsWith(`${repo}@`));
  if (!found) throw new BerthError('PUSH_FAILED', `Pushed ${ref}, but the engine reported no digest for it\n${tail.join('\n')}`);
  return found.slice(repo.length + 1);
}

/**
 * Pulls `ref` (repo@sha256:… or repo:tag). Docker's compatible pull has no way to skip TLS, so for an insecure
 * registry Podman's own endpoint (`/libpod/images/pull?tlsVerify=false`) is used.
 */
export async function pullImage(docker: Dockerode, ref: string, opts: PushOptions): Promise<void> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let error: string | null = null;
  const onMessage = (m: { status?: string; stream?: string; error?: string; id?: string }): void => {
    if (typeof m.error === 'string') error = m.error;
    const text = m.stream ?? m.status;
    if (typeof text === 'string' && text.trim() !== '') opts.log(text.trimEnd().slice(0, 2000));
  };
  try {
    const stream = opts.insecure
      ? await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
          docker.modem.dial(
            { path: '/v4.0.0/libpod/images/pull?', method: 'POST', options: { reference: ref, tlsVerify: false }, isStream: true, abortSignal: signal, statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such image', 500: 'server error' } },
            (err: unknown, data: unknown) => (err ? reject(err as Error) : resolve(data as NodeJS.ReadableStream)),
          );
        })
      : ((await docker.pull(ref, { abortSignal: signal })) as NodeJS.ReadableStream);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), onMessage);
    });
  } catch (err) {
    const e = engineError(err, `Pulling ${ref}`);
    throw e.code === 'ENGINE_UNAVAILABLE' ? e : new BerthError('IMAGE_NOT_FOUND', e.message);
  }
  if (error !== null) throw new BerthError('IMAGE_NOT_FOUND', `Pulling ${ref} failed: ${String(error)}`);
}
