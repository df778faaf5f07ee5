import { ConfigError, loadConfig, loadMigrateConfig } from '../src/config';

const valid = {
  DATABASE_URL: 'postgresql://u@db:5432/boltlink',
  REDIS_URL: 'redis://cache:6379',
  API_TOKENS: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb',
};

describe('loadConfig', () => {
  it('applies documented defaults and freezes the result', () => {
    const c = loadConfig(valid);
    expect(c).toMatchObject({
      PORT: 5000,
      NODE_ENV: 'development',
      KEEP_ALIVE_TIMEOUT_MS: 65_000,
      HEADERS_TIMEOUT_MS: 30_000,
      FAST_REDIRECTS: true,
    });
    expect(c.API_TOKENS).toEqual(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
    expect(c.PUBLIC_BASE_URL).toBe('http://localhost:5000');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.API_TOKENS)).toBe(true);
  });

  it('turns the fast redirect off with FAST_REDIRECTS=false (or 0)', () => {
    expect(loadConfig({ ...valid, FAST_REDIRECTS: 'false' }).FAST_REDIRECTS).toBe(false);
    expect(loadConfig({ ...valid, FAST_REDIRECTS: '0' }).FAST_REDIRECTS).toBe(false);
  });

  it('names every bad key in one error, without echoing secrets', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: 'x',
        REDIS_URL: 'http://secret-host',
        API_TOKENS: 'short-secret',
        LOG_LEVEL: 'loud',
        DB_POOL_SIZE: '0',
        FAST_REDIRECTS: 'no',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'API_TOKENS',
      'DATABASE_URL',
      'DB_POOL_SIZE',
      'FAST_REDIRECTS',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
    ]);
    expect(problems.find((p) => p.startsWith('DATABASE_URL'))).toBe('DATABASE_URL: is required');
    expect((err as Error).message).not.toContain('short-secret');
    expect((err as Error).message).not.toContain('secret-host');
  });

  it.each([
    ['127.0.0.1:6379', 'host:port without a scheme'],
    ['redis//x', 'a scheme without its colon'],
  ])('names a malformed URL (%s: %s) among the other bad keys instead of throwing', (malformed) => {
    let err: unknown;
    try {
      loadConfig({ DATABASE_URL: malformed, REDIS_URL: malformed, API_TOKENS: 'short', PORT: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'PORT: must be a whole number from 0 to 65,535 (got "x")',
      'DATABASE_URL: must be a postgres:// or postgresql:// URL (postgresql://user:password@host:5432/database)',
      'REDIS_URL: must be a redis:// or rediss:// URL (redis://host:6379)',
      'API_TOKENS: each token needs at least 16 characters',
    ]);
  });

  it('refuses a CORS wildcard, a missing public URL and fault injection in production', () => {
    expect(() =>
      loadConfig({ ...valid, NODE_ENV: 'production', ALLOWED_ORIGINS: '*', FAULT_INJECTION: 'true' }),
    ).toThrow(/ALLOWED_ORIGINS: '\*' is refused.*PUBLIC_BASE_URL: is required.*FAULT_INJECTION: is refused/);
    expect(
      loadConfig({
        ...valid,
        NODE_ENV: 'production',
        ALLOWED_ORIGINS: 'https://a.example',
        PUBLIC_BASE_URL: 'https://sho.rt/',
      }).PUBLIC_BASE_URL,
    ).toBe('https://sho.rt');
  });

  it('reports the rules across keys in the same error as the keys’ own problems (the guide’s docker run without env)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PORT: 'abc' })).toThrow(
      new ConfigError([
        'PORT: must be a whole number from 0 to 65,535 (got "abc")',
        'DATABASE_URL: is required',
        'REDIS_URL: is required',
        'API_TOKENS: is required',
        'PUBLIC_BASE_URL: is required when NODE_ENV=production',
      ]),
    );
  });

  it('requires the drain to fit inside the shutdown deadline', () => {
    expect(() => loadConfig({ ...valid, SHUTDOWN_DRAIN_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' })).toThrow(
      /SHUTDOWN_DRAIN_MS/,
    );
  });
});

describe('loadMigrateConfig', () => {
  it('needs only DATABASE_URL', () => {
    expect(loadMigrateConfig({ DATABASE_URL: valid.DATABASE_URL }).DATABASE_URL).toBe(valid.DATABASE_URL);
    expect(() => loadMigrateConfig({})).toThrow('DATABASE_URL: is required');
  });
});
