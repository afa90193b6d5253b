/* Hub ids and the HF_* environment, checked against Python's huggingface_hub and the npm @huggingface/hub. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatHubRef, looksLikeHubId, parseHubId } from '../../src/hub/id';
import { hubPaths, hubSettings, isTrue } from '../../src/hub/settings';

/** Why python3 cannot import huggingface_hub, or undefined when it can. */
function pythonMissing(): string | undefined {
  const r = spawnSync('python3', ['-c', 'import huggingface_hub'], { encoding: 'utf8' });
  if (r.error) return `python3 not runnable: ${r.error.message}`;
  return r.status === 0 ? undefined : `python3 lacks huggingface_hub (pip install huggingface_hub)`;
}
const PY_MISSING = pythonMissing();
// Skipped with the reason in its name where Python is missing, but never under CI=true.
const pyTest = PY_MISSING && process.env.CI !== 'true' ? test.skip : test;
const pyName = (name: string) => (PY_MISSING ? `${name} [skipped: ${PY_MISSING}]` : name);

describe('Hub ids', () => {
  test.each([
    ['google/electra-small-discriminator', { repo: 'google/electra-small-discriminator', revision: 'main', subfolder: '' }],
    ['org/name@v1.0', { repo: 'org/name', revision: 'v1.0', subfolder: '' }],
    ['org/name@0123456789abcdef0123456789abcdef01234567', { repo: 'org/name', revision: '0123456789abcdef0123456789abcdef01234567', subfolder: '' }],
    ['org/name@refs%2Fpr%2F1/generator', { repo: 'org/name', revision: 'refs/pr/1', subfolder: 'generator' }],
    ['org/name/a/b', { repo: 'org/name', revision: 'main', subfolder: 'a/b' }],
    ['cross-encoder/ms-marco-electra-base', { repo: 'cross-encoder/ms-marco-electra-base', revision: 'main', subfolder: '' }],
  ])('%s', (id, want) => {
    expect(parseHubId(id)).toEqual(want);
    expect(formatHubRef(parseHubId(id))).toBe(id);
  });

  test.each(['./models/x', '/abs/path', '~/x', 'C:/x/y', 'a\\b', 'noslash', 'a/b/../c', 'a--b/c', 'a/b@', '-a/b', 'a/b@x..y', '.hidden/x'])('%s is not a Hub id', (s) => {
    expect(looksLikeHubId(s)).toBe(false);
  });
});

describe('settings from the environment', () => {
  const home = '/home/u';
  test('cache directory precedence: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME > ~/.cache', () => {
    expect(hubPaths({ HOME: home }).cacheDir).toBe('/home/u/.cache/huggingface/hub');
    expect(hubPaths({ HOME: home, XDG_CACHE_HOME: '/xdg' }).cacheDir).toBe('/xdg/huggingface/hub');
    expect(hubPaths({ HOME: home, HF_HOME: '/hf' }).cacheDir).toBe('/hf/hub');
    expect(hubPaths({ HOME: home, HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy' }).cacheDir).toBe('/legacy');
    expect(hubPaths({ HOME: home, HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy', HF_HUB_CACHE: '~/c' }).cacheDir).toBe('/home/u/c');
    expect(hubPaths({ HOME: home, HF_HOME: '/hf' }).tokenPath).toBe('/hf/token');
  });

  test('offline, endpoint and token', () => {
    expect(isTrue('yes') && isTrue('ON') && isTrue('1') && !isTrue('0') && !isTrue('')).toBe(true);
    expect(hubSettings({}, { HOME: home, HF_HUB_OFFLINE: '1' }).offline).toBe(true);
    expect(hubSettings({}, { HOME: home, TRANSFORMERS_OFFLINE: 'true' }).offline).toBe(true);
    expect(hubSettings({}, { HOME: home, HF_HUB_OFFLINE: '0', TRANSFORMERS_OFFLINE: '1' }).offline).toBe(false);
    expect(hubSettings({ offline: false }, { HOME: home, HF_HUB_OFFLINE: '1' }).offline).toBe(false);
    expect(hubSettings({}, { HOME: home, HF_ENDPOINT: 'http://127.0.0.1:9/' }).endpoint).toBe('http://127.0.0.1:9');
    expect(hubSettings({}, { HOME: home }).endpoint).toBe('https://huggingface.co');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-hf-home-'));
    fs.writeFileSync(path.join(dir, 'token'), '  hf_file \n');
    expect(hubSettings({}, { HOME: home, HF_HOME: dir }).token).toBe('hf_file');
    expect(hubSettings({}, { HOME: home, HF_HOME: dir, HUGGING_FACE_HUB_TOKEN: 'hf_legacy' }).token).toBe('hf_legacy');
    expect(hubSettings({}, { HOME: home, HF_HOME: dir, HF_TOKEN: 'hf_env', HUGGING_FACE_HUB_TOKEN: 'hf_legacy' }).token).toBe('hf_env');
    expect(hubSettings({ token: false }, { HOME: home, HF_HOME: dir, HF_TOKEN: 'hf_env' }).token).toBeUndefined();
    expect(() => hubSettings({ endpoint: 'ftp://x' }, { HOME: home })).toThrow(/http\(s\) URL/);
    fs.rmSync(dir, { recursive: true });
  });

  // The same environments through Python's huggingface_hub.constants and get_token().
  const ENVS: Record<string, string>[] = [
    {},
    { XDG_CACHE_HOME: '/xdg' },
    { HF_HOME: '/hf' },
    { HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy' },
    { HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy', HF_HUB_CACHE: '/new' },
    { HF_HUB_OFFLINE: '1' },
    { TRANSFORMERS_OFFLINE: 'yes' },
    { HF_HUB_OFFLINE: '0', TRANSFORMERS_OFFLINE: '1' },
    { HF_ENDPOINT: 'http://127.0.0.1:1234/' },
    { HF_TOKEN: 'hf_a', HUGGING_FACE_HUB_TOKEN: 'hf_b' },
    { HUGGING_FACE_HUB_TOKEN: 'hf_b' },
    { HF_TOKEN_PATH: '/nonexistent/token' },
  ];
  pyTest(pyName('the same answers as Python huggingface_hub for each environment'), () => {
    const script = `
import importlib, json, os, sys
envs = json.loads(sys.stdin.read())
base = {k: v for k, v in os.environ.items() if not (k.startswith('HF_') or k.startswith('HUGGING') or k in ('TRANSFORMERS_OFFLINE', 'XDG_CACHE_HOME'))}
out = []
for e in envs:
    os.environ.clear(); os.environ.update(base); os.environ.update(e)
    import huggingface_hub.constants as c
    importlib.reload(c)
    from huggingface_hub.utils import _auth
    importlib.reload(_auth)
    out.append({'cacheDir': c.HF_HUB_CACHE, 'offline': bool(c.HF_HUB_OFFLINE), 'endpoint': c.ENDPOINT, 'token': _auth._get_token_from_environment() or _auth._get_token_from_file(), 'tokenPath': c.HF_TOKEN_PATH})
print(json.dumps(out))
`;
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING)/.test(k) && k !== 'TRANSFORMERS_OFFLINE' && k !== 'XDG_CACHE_HOME'));
    const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(ENVS), encoding: 'utf8', env: clean });
    expect(r.stderr).toBe('');
    const py = JSON.parse(r.stdout) as { cacheDir: string; offline: boolean; endpoint: string; token: string | null; tokenPath: string }[];
    const ours = ENVS.map((e) => {
      const env = { ...clean, ...e };
      const s = hubSettings({}, env);
      return { cacheDir: s.cacheDir, offline: s.offline, endpoint: s.endpoint, token: s.token ?? null, tokenPath: s.tokenPath };
    });
    expect(ours).toEqual(py);
  });

  test('the same cache directory as @huggingface/hub getHFHubCachePath for each environment', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getHFHubCachePath } = require('@huggingface/hub') as { getHFHubCachePath: () => string };
    const saved = { ...process.env };
    try {
      for (const e of ENVS.slice(0, 5)) {
        for (const k of ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME']) delete process.env[k];
        Object.assign(process.env, e);
        expect(hubSettings({}).cacheDir).toBe(getHFHubCachePath());
      }
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
