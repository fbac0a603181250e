import { describe, expect, it } from 'vitest';
import { ApiClient, ApiClientError } from './api-client.js';

function fakeFetch(status: number, body: string, seen: Request[] = []): typeof fetch {
  return async (input, init) => {
    seen.push(new Request(input, init));
    return new Response(body, { status, statusText: status === 502 ? 'Bad Gateway' : '' });
  };
}

describe('ApiClient', () => {
  it('rejects a base URL that is not http(s)', () => {
    expect(() => new ApiClient({ baseUrl: 'ftp://x' })).toThrow(ApiClientError);
    expect(() => new ApiClient({ baseUrl: 'not a url' })).toThrow(/Not a valid Berth URL/);
  });

  it('maps the error body to code, message and status', async () => {
    const client = new ApiClient({ baseUrl: 'http://h/', fetch: fakeFetch(409, '{"error":{"code":"INVALID_STATE","message":"busy","details":{"a":1}}}') });
    const err = await client.stop('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiClientError);
    expect(err).toMatchObject({ code: 'INVALID_STATE', message: 'busy', status: 409, details: { a: 1 } });
  });

  it('maps a non-JSON error body to HTTP_<status>', async () => {
    const client = new ApiClient({ baseUrl: 'http://h', fetch: fakeFetch(502, '<html>') });
    await expect(client.listDeployments()).rejects.toMatchObject({ code: 'HTTP_502', message: 'Berth answered HTTP 502 Bad Gateway' });
  });

  it('encodes ids, strips a trailing slash and sends the bearer token', async () => {
    const seen: Request[] = [];
    const client = new ApiClient({ baseUrl: 'http://h:1/', token: 't', fetch: fakeFetch(200, '{"items":[]}', seen) });
    await client.getLogs('a/b', 5);
    expect(seen[0]?.url).toBe('http://h:1/api/deployments/a%2Fb/logs?tail=5');
    expect(seen[0]?.headers.get('authorization')).toBe('Bearer t');
  });

  it('reports a success body that is not JSON', async () => {
    const client = new ApiClient({ baseUrl: 'http://h', fetch: fakeFetch(200, 'oops') });
    await expect(client.getDeployment('x')).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
  });
});
