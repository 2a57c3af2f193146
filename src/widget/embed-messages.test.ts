import { describe, expect, it } from 'vitest';
import { hostOrigin, parseHostMessage } from './embed-messages';

describe('parseHostMessage', () => {
  it('accepts the documented messages', () => {
    expect(parseHostMessage({ type: 'video-reasoner:ask' })).toEqual({ type: 'video-reasoner:ask' });
    expect(parseHostMessage({ type: 'video-reasoner:ask', question: 'Why?' })).toEqual({
      type: 'video-reasoner:ask',
      question: 'Why?',
    });
    expect(parseHostMessage({ type: 'video-reasoner:stop' })).toEqual({ type: 'video-reasoner:stop' });
    expect(
      parseHostMessage({ type: 'video-reasoner:set', src: 'a.mp4', frames: 8, temperature: 0, model: 'x/y' }),
    ).toEqual({ type: 'video-reasoner:set', src: 'a.mp4', frames: 8, temperature: 0, model: 'x/y' });
  });

  it('refuses everything else', () => {
    for (const bad of [
      null,
      'video-reasoner:ask',
      ['video-reasoner:ask'],
      {},
      { type: 'ask' },
      { type: 'video-reasoner:eval', code: '1' },
      { type: 'video-reasoner:ask', question: 42 },
      { type: 'video-reasoner:ask', question: 'x'.repeat(10_000) },
      { type: 'video-reasoner:ask', question: 'ok', extra: true },
      { type: 'video-reasoner:stop', now: true },
      { type: 'video-reasoner:set', frames: '8' },
      { type: 'video-reasoner:set', temperature: Number.NaN },
      { type: 'video-reasoner:set', innerHTML: '<img onerror=alert(1)>' },
    ])
      expect(parseHostMessage(bad)).toBeNull();
  });
});

describe('hostOrigin', () => {
  it('takes the origin parameter when it is an origin', () => {
    expect(hostOrigin('http://127.0.0.1:4180', ['http://other.test'], '')).toBe('http://127.0.0.1:4180');
    expect(hostOrigin('https://host.example/', undefined, '')).toBe('https://host.example');
  });

  it('refuses a parameter that is not a plain http(s) origin', () => {
    expect(hostOrigin('https://host.example/page', undefined, '')).toBeNull();
    expect(hostOrigin('javascript:alert(1)', undefined, '')).toBeNull();
    expect(hostOrigin('*', ['https://a.test'], '')).toBeNull();
  });

  it('falls back to the embedding page, then to nothing', () => {
    expect(hostOrigin(null, ['https://a.test'], 'https://b.test/x')).toBe('https://a.test');
    expect(hostOrigin(null, undefined, 'https://b.test/x?y')).toBe('https://b.test');
    expect(hostOrigin(null, [], '')).toBeNull();
  });
});
