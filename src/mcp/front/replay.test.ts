import { describe, expect, it } from 'vitest';
import { GET_STREAM, ReplayLog, parseEventId, replayLimits } from './replay.js';

const jsons = (r: { events: { json: string }[] } | null): string[] => (r ? r.events.map((e) => e.json) : []);

describe('ReplayLog', () => {
  it('numbers messages per stream and replays only the named stream after the position', () => {
    const log = new ReplayLog(replayLimits());
    const post = log.newStream();
    expect(post).toBe(1);
    expect(log.append(GET_STREAM, 'g1', true)).toBe('0:1');
    expect(log.append(post, 'p1', true)).toBe('1:1');
    expect(log.append(GET_STREAM, 'g2', false)).toBe('0:2');
    expect(log.append(post, 'p2', false)).toBe('1:2');
    expect(jsons(log.replay(post, 0))).toEqual(['p1', 'p2']);
    expect(jsons(log.replay(post, 1))).toEqual(['p2']);
    expect(log.replay(post, 1)?.events.map((e) => e.id)).toEqual(['1:2']);
    expect(jsons(log.replay(GET_STREAM, 1))).toEqual(['g2']);
    expect(log.replay(post, 3)).toBeNull();
    expect(log.replay(7, 0)).toBeNull();
    expect(log.issued(7)).toBe(false);
  });

  it('tracks what the GET stream has not delivered yet', () => {
    const log = new ReplayLog(replayLimits());
    log.append(GET_STREAM, 'a', true);
    log.append(GET_STREAM, 'b', false);
    log.append(GET_STREAM, 'c', false);
    expect(log.deliveredThrough(GET_STREAM)).toBe(1);
    expect(jsons(log.replay(GET_STREAM, log.deliveredThrough(GET_STREAM)))).toEqual(['b', 'c']);
    expect(log.deliveredThrough(GET_STREAM)).toBe(3);
  });

  it('drops delivered messages before undelivered ones, oldest first, and counts the gap', () => {
    const drops: string[] = [];
    const log = new ReplayLog(replayLimits({ maxEvents: 3 }), (s, n) => drops.push(`${s}:${n}`));
    const post = log.newStream();
    log.append(post, 'p1', false);
    log.append(GET_STREAM, 'g1', true);
    log.append(GET_STREAM, 'g2', true);
    log.append(post, 'p2', false); // over the cap: g1 (delivered) goes, though p1 is older
    expect(log.held.events).toBe(3);
    expect(drops).toEqual([]);
    expect(jsons(log.replay(post, 0))).toEqual(['p1', 'p2']);
    const get = log.replay(GET_STREAM, 0);
    expect(get?.lost).toBe(1);
    expect(jsons(get)).toEqual(['g2']);
    // Everything is delivered now; the next two appends push out the oldest.
    log.append(post, 'p3', false);
    log.append(post, 'p4', false);
    expect(jsons(log.replay(post, 0))).toEqual(['p2', 'p3', 'p4']);
    expect(log.replay(post, 0)?.lost).toBe(1);
    expect(log.dropped).toBe(0);
  });

  it('drops the oldest undelivered message when nothing else can go, and says so', () => {
    const drops: string[] = [];
    const log = new ReplayLog(replayLimits({ maxEvents: 2 }), (s, n) => drops.push(`${s}:${n}`));
    for (const m of ['a', 'b', 'c', 'd']) log.append(GET_STREAM, m, false);
    expect(drops).toEqual(['0:1', '0:2']);
    expect(log.dropped).toBe(2);
    const r = log.replay(GET_STREAM, 0);
    expect(r?.lost).toBe(2);
    expect(jsons(r)).toEqual(['c', 'd']);
    expect(log.replay(GET_STREAM, 2)?.lost).toBe(0);
  });

  it('caps by size, but keeps a lone undelivered message however big', () => {
    const log = new ReplayLog(replayLimits({ maxBytes: 10 }));
    log.append(GET_STREAM, '1234567890', false);
    log.append(GET_STREAM, 'abcdefghijklmnop', false);
    expect(jsons(log.replay(GET_STREAM, 0))).toEqual(['abcdefghijklmnop']);
    // Delivered now (replayed), so the next message pushes it out.
    log.append(GET_STREAM, 'x', true);
    expect(log.held).toEqual({ events: 1, bytes: 1 });
  });

  it('forgets a closed stream once its messages are gone', () => {
    const log = new ReplayLog(replayLimits({ maxEvents: 2 }));
    const post = log.newStream();
    log.append(post, 'p1', true);
    log.close(post);
    expect(log.replay(post, 0)?.closed).toBe(true);
    log.append(GET_STREAM, 'g1', true);
    log.append(GET_STREAM, 'g2', true);
    expect(log.replay(post, 0)).toBeNull();
    expect(log.issued(post)).toBe(true);
  });

  it('rejects bad caps and parses only its own ids', () => {
    expect(() => replayLimits({ maxEvents: 0 })).toThrow(/maxEvents/);
    expect(() => replayLimits({ maxBytes: 1.5 })).toThrow(/maxBytes/);
    expect(parseEventId('3:17')).toEqual({ stream: 3, seq: 17 });
    for (const bad of ['', '1', 'x:1', '1:', '1:2:3', '-1:2', ' 1:2', '1:99999999999999999999']) expect(parseEventId(bad)).toBeNull();
  });
});
