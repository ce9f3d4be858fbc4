/**
 * readpath as a dependency (issue 17): pack the package, install the tarball into a fresh
 * project from npm's cache only, compile a strict TypeScript program against it with only
 * @types/node beside it, import it as ESM and read something, and run its CLI through `npx`.
 *
 * The install is `npm ci --offline --ignore-scripts` over a lockfile built from readpath's own
 * (test/helpers/consumer-project.ts says why): the tarballs are the ones the repository's
 * `npm ci` put in the cache. `--ignore-scripts` skips better-sqlite3's native build (minutes,
 * or a download); nothing here opens a SQLite database. Builds dist/ first when it is older
 * than the sources (`npm test` has just built it).
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { consumerLockfile, fileIntegrity, type Lockfile, type Manifest } from '../helpers/consumer-project.js';
import { readmeExamples } from '../helpers/readme-examples.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Run { code: number; stdout: string; stderr: string }

/** The environment without what an enclosing `npm test` set for its own script. */
function childEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$)/i.test(k) || keep.has(k.toLowerCase())));
}

function run(cmd: string, args: string[], cwd: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: opts.env ?? childEnv(), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${err.message}\n${stderr}` : stderr });
    });
  });
}

async function mustRun(cmd: string, args: string[], cwd: string, opts: { timeoutMs?: number } = {}): Promise<Run> {
  const r = await run(cmd, args, cwd, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** True when some shipped source is newer than its compiled file (or has none). */
function distIsStale(): boolean {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : []);
  return ['src', 'workers', path.join('bench', 'harness')].flatMap(walk).some((ts) => {
    const js = path.join(ROOT, 'dist', ts.replace(/\.ts$/, '.js'));
    return !existsSync(js) || statSync(js).mtimeMs < statSync(path.join(ROOT, ts)).mtimeMs;
  });
}

/**
 * A parent for the consumer project with no node_modules above it: module resolution (Node's
 * and TypeScript's) climbs every ancestor, and one stray /tmp/node_modules would hand the
 * consumer packages it did not install.
 */
function consumerParent(): string {
  const hasAncestorModules = (dir: string): boolean => {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
      if (existsSync(path.join(d, 'node_modules'))) return true;
      if (path.dirname(d) === d) return false;
    }
  };
  const candidates = [process.env.READPATH_PACKAGE_TEST_TMP, os.tmpdir(), '/var/tmp', os.homedir()].filter((d): d is string => d !== undefined && d !== '');
  const ok = candidates.find((d) => existsSync(d) && !hasAncestorModules(d));
  assert.ok(ok !== undefined, `every candidate directory for the consumer project has a node_modules in itself or an ancestor (${candidates.join(', ')}); set READPATH_PACKAGE_TEST_TMP to a clean one`);
  return ok;
}

/** Disk usage (as du counts it) and file count of a directory tree; symlinks count as themselves. */
function diskUsage(dir: string): number {
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const st = lstatSync(p);
    bytes += st.blocks * 512;
    if (e.isDirectory()) bytes += diskUsage(p);
  }
  return bytes;
}

/** Names of the npm packages the shipped JavaScript imports or requires. */
function importedPackages(root: string, files: string[]): Set<string> {
  const builtins = new Set(builtinModules);
  const out = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|\)\s*\(\s*)['"]([^'"\s]+)['"]/g;
  for (const f of files) {
    if (!f.endsWith('.js')) continue;
    for (const m of readFileSync(path.join(root, f), 'utf8').matchAll(re)) {
      const spec = m[1] as string;
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || spec.startsWith('data:') || spec.startsWith('file:')) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
      if (!builtins.has(name)) out.add(name);
    }
  }
  return out;
}

// The consumer: strict, no skipLibCheck, nothing but @types/node for types.
const CONSUMER_TS = `
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  ReadPath, MemoryBackend, MemoryMetadataStore, PostgresMetadataStore, S3Backend, hasCode, loadConfig, httpStatusOf,
  type GetOutcome, type PostgresMetadataStoreOptions, type ReadPathConfig, type ResolvedConfig, type S3BackendOptions,
} from 'readpath';

const manifest = createRequire(import.meta.url)('readpath/package.json') as { name: string; version: string };
const body = new TextEncoder().encode('hello from a consumer');
const backends = [new MemoryBackend('b1'), new MemoryBackend('b2')];
const store = new MemoryMetadataStore();
backends[1]?.put('greeting.txt', body);
store.add({
  objectKey: 'greeting.txt', backendName: 'b2', sizeBytes: body.byteLength, createdAt: new Date(), encrypted: false,
  contentHash: createHash('sha256').update(body).digest('hex'),
});
const config: ReadPathConfig = {
  backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
  database: { driver: 'memory' },
  runtime: { mode: 'inline' },
  logging: { level: 'silent' },
};
const resolved: ResolvedConfig = await loadConfig(config);
// Built, never connected: neither pg nor the AWS SDK is needed to get this far.
const pgOptions: PostgresMetadataStoreOptions = { url: 'postgres://reader@db.invalid/meta', ssl_mode: 'require', statementTimeoutMs: 2000 };
await new PostgresMetadataStore(pgOptions).close();
const s3Options: S3BackendOptions = { name: 'b9', endpoint: 'http://127.0.0.1:9', bucket: 'data', accessKeyId: 'k', secretAccessKey: 's' };
const rp = await ReadPath.open(config, { backends, store });
// With exactOptionalPropertyTypes an option may still be passed as possibly undefined.
const signal: AbortSignal | undefined = process.env['READPATH_NO_SUCH_VAR'] === undefined ? undefined : AbortSignal.timeout(10_000);
const got: GetOutcome = await rp.get('greeting.txt', { signal, range: undefined });
let missing = 0;
try {
  await rp.get('no/such/key');
} catch (err) {
  if (hasCode(err, 'OBJECT_NOT_FOUND')) missing = httpStatusOf(err);
}
await rp.close();
console.log(JSON.stringify({
  name: manifest.name, backend: got.backend, verified: got.verified, failover: got.failover, text: new TextDecoder().decode(got.body),
  missing, backends: resolved.backends.length, s3: typeof S3Backend, s3Name: s3Options.name,
}));
`;

describe('readpath installed from its tarball', { timeout: 240_000 }, () => {
  let work: string;
  let project: string;
  let packed: string[];
  let manifest: Manifest & Record<string, unknown>;
  let runtimePackages: string[];
  const repoPkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest & { devDependencies: Record<string, string> };
  const npx = (args: string[]): Promise<Run> => run('npx', ['--no', '--offline', 'readpath', ...args], project);
  // What `npx readpath` runs: the bin link npm made.
  const readpath = (args: string[], env?: NodeJS.ProcessEnv): Promise<Run> =>
    run(path.join(project, 'node_modules', '.bin', 'readpath'), args, project, env === undefined ? {} : { env });
  const timings: string[] = [];
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  };

  before(async () => {
    if (distIsStale()) await timed('build', () => mustRun(process.execPath, [TSC, '-p', 'tsconfig.build.json'], ROOT, { timeoutMs: 180_000 }));
    work = mkdtempSync(path.join(consumerParent(), 'readpath-package-'));
    // --ignore-scripts: prepack would rebuild dist/ from scratch under the other tests' feet.
    const pack = await timed('pack', () => mustRun('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT));
    const info = (JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[])[0];
    assert.ok(info !== undefined, pack.stdout);
    packed = info.files.map((f) => f.path);
    const tarball = path.join(work, info.filename);

    project = path.join(work, 'consumer');
    mkdirSync(project);
    copyFileSync(tarball, path.join(project, 'readpath.tgz'));
    manifest = JSON.parse((await mustRun('tar', ['-xzOf', tarball, 'package/package.json'], work)).stdout) as Manifest & Record<string, unknown>;
    const repoLock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
    const consumer = consumerLockfile({ repoLock, manifest, tarball: 'readpath.tgz', integrity: fileIntegrity(tarball), devPackages: ['@types/node'] });
    runtimePackages = consumer.runtimePackages;
    writeFileSync(path.join(project, 'package.json'), `${JSON.stringify(consumer.packageJson, null, 2)}\n`);
    writeFileSync(path.join(project, 'package-lock.json'), `${JSON.stringify(consumer.lockfile, null, 2)}\n`);
    const install = await timed('install', () => run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project, { timeoutMs: 120_000 }));
    if (install.code !== 0 && /ENOTCACHED|only-if-cached/.test(install.stderr)) {
      assert.fail(`a dependency's tarball is not in npm's cache (${process.env.npm_config_cache ?? '~/.npm'}): run \`npm ci\` in the repository with network access once, then this test again\n${install.stderr}`);
    }
    assert.equal(install.code, 0, `npm ci in the consumer project failed\n${install.stdout}\n${install.stderr}`);
  });

  after(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('package.json is what tools expect: exports (types first, ./package.json), engines, bin', () => {
    const exp = manifest.exports as Record<string, unknown>;
    assert.deepEqual(Object.keys(exp['.'] as object)[0], 'types', 'the types condition comes first');
    assert.deepEqual(exp['.'], { types: './dist/index.d.ts', import: './dist/index.js' }, 'the entry API.md names');
    assert.equal(exp['./package.json'], './package.json');
    assert.match(String(manifest.engines?.node), />=\s*20/);
    assert.deepEqual(Object.keys(manifest.bin as object), ['readpath']);
    assert.equal(manifest.type, 'module');
  });

  it('the tarball holds what runs, and no tests, benchmarks, fixtures or source maps', () => {
    for (const f of ['package.json', 'README.md', 'bin/readpath.js', 'dist/index.js', 'dist/index.d.ts', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js',
      'dist/workers/probe-worker.js', 'dist/bench/harness/index.js', 'dist/bench/harness/s3-fleet-process.js', 'examples/transforms/gunzip-ndjson.mjs']) {
      assert.ok(packed.includes(f), `${f} is packed`);
    }
    const stray = packed.filter((f) => !/^(package\.json|README\.md|LICENSE|bin\/[^/]+\.js|dist\/index\.(js|d\.ts)|dist\/(src|workers|bench\/harness)\/.+\.(js|d\.ts)|examples\/.+\.mjs)$/.test(f));
    assert.deepEqual(stray, [], 'files outside the runtime (tests, bench fixtures, maps, sources)');
  });

  it('its dependencies are what the shipped code imports, and nothing demo-, bench- or test-only', () => {
    const deps = Object.keys(manifest.dependencies ?? {});
    const used = importedPackages(path.join(project, 'node_modules', 'readpath'), packed);
    // s3rver: imported by the demo's and the bench's local S3 servers, which check for it first
    // and say how to install it (a devDependency: `npm ci` in the repository installs it).
    const optional = new Set(['s3rver']);
    assert.deepEqual([...used].filter((p) => !deps.includes(p) && !optional.has(p)).sort(), [], 'imported but not a dependency');
    assert.deepEqual(deps.filter((d) => !used.has(d)).sort(), [], 'dependencies the shipped code never imports');
    assert.deepEqual(deps.filter((d) => d in repoPkg.devDependencies), [], 'both a dependency and a devDependency');
    const installed = new Set(runtimePackages.map((p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length)));
    for (const devOnly of ['s3rver', 'koa', 'busboy', 'winston', 'fast-check', 'tsx', 'typescript', 'eslint', '@types/pg']) {
      assert.ok(!installed.has(devOnly), `${devOnly} is not installed for a library user`);
    }
  });

  it('reports the install size', (t: TestContext) => {
    const modules = path.join(project, 'node_modules');
    const names = readdirSync(modules).flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(modules, n)).map((m) => `${n}/${m}`) : n.startsWith('.') ? [] : [n]));
    // The consumer's own devDependency (@types/node and what it needs) is not readpath's.
    const own = ['@types/node', 'undici-types'];
    const mb = (diskUsage(modules) - own.reduce((s, n) => s + diskUsage(path.join(modules, n)), 0)) / 1e6;
    // Optional packages for other platforms are in the lockfile, not on disk.
    const onDisk = runtimePackages.filter((p) => existsSync(path.join(project, p))).length + 1;
    t.diagnostic(`a library user's node_modules: ${mb.toFixed(0)} MB, ${onDisk} packages (readpath and its dependencies; ${names.length - own.length} at the top level), before better-sqlite3 fetches its native addon`);
    assert.ok(!names.includes('s3rver'));
  });

  it('compiles a strict TypeScript consumer with only @types/node (skipLibCheck off)', async () => {
    writeFileSync(path.join(project, 'index.ts'), CONSUMER_TS);
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], outDir: 'out',
        strict: true, skipLibCheck: false, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true,
      },
      files: ['index.ts'],
    }));
    const installedTypes = readdirSync(path.join(project, 'node_modules', '@types'));
    assert.deepEqual(installedTypes, ['node'], 'the consumer has no types but @types/node');
    await timed('tsc', () => mustRun(process.execPath, [TSC, '-p', 'tsconfig.json'], project, { timeoutMs: 120_000 }));

    // ...and runs: imports readpath as ESM and reads a verified object through it.
    const r = await mustRun(process.execPath, ['out/index.js'], project);
    assert.deepEqual(JSON.parse(r.stdout), {
      name: 'readpath', backend: 'b2', verified: true, failover: false, text: 'hello from a consumer', missing: 404, backends: 2, s3: 'function', s3Name: 'b9',
    });
  });

  it("the README's TypeScript examples type-check against the installed package (strict, exactOptionalPropertyTypes)", async () => {
    const examples = readmeExamples(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    assert.ok(examples.length >= 4, `the README's ts blocks: ${examples.length}`);
    for (const e of examples) writeFileSync(path.join(project, e.name), e.source);
    writeFileSync(path.join(project, 'tsconfig.readme.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], noEmit: true,
        strict: true, skipLibCheck: false, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true,
      },
      files: examples.map((e) => e.name),
    }));
    await timed('tsc README', () => mustRun(process.execPath, [TSC, '-p', 'tsconfig.readme.json'], project, { timeoutMs: 120_000 }));
  });

  it('npx readpath --help and --version work from the installed package', async () => {
    const help = await npx(['--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const cmd of ['get', 'head', 'batch', 'validate', 'demo', 'bench']) assert.match(help.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `--help lists ${cmd}`);
    const version = await readpath(['--version']);
    assert.equal(version.stdout.trim(), manifest.version);
  });

  it('readpath validate -c sample.yaml checks a configuration and masks its secrets', async () => {
    writeFileSync(path.join(project, 'sample.yaml'), [
      'backends:',
      '  - name: b1',
      '    endpoint: "http://127.0.0.1:9000"',
      '    bucket: data',
      '    access_key_id: "${B1_KEY}"',
      '    secret_access_key: "${B1_SECRET}"',
      '    force_path_style: true',
      'database:',
      '  driver: postgres',
      '  url: "postgres://reader:${PG_PASSWORD}@db.internal/s3orchestrator"',
      '',
    ].join('\n'));
    const env = { ...childEnv(), B1_KEY: 'AKIAPACKAGETEST', B1_SECRET: 'package-test-secret', PG_PASSWORD: 'package-test-password' };
    const r = await readpath(['validate', '-c', 'sample.yaml'], env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ {2}driver: postgres$/m);
    assert.match(r.stderr, /sample\.yaml: configuration is valid \(1 backend, postgres metadata store\)/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('package-test-secret') && !`${r.stdout}${r.stderr}`.includes('package-test-password'), 'secrets are masked');

    const bad = await readpath(['validate', '-c', 'missing.yaml']);
    assert.equal(bad.code, 2, bad.stderr);
  });

  it('readpath bench runs the harness it ships; readpath demo says how to get s3rver', async (t: TestContext) => {
    const bench = await readpath(['bench', '--reads', '30', '--strategies', 'sequential,parallel']);
    assert.equal(bench.code, 0, `${bench.stdout}\n${bench.stderr}`);
    assert.match(bench.stdout, /^parallel\s+inline\s+30\s/m);

    const demo = await readpath(['demo']);
    assert.equal(demo.code, 2, `${demo.stdout}\n${demo.stderr}`);
    assert.ok(demo.stderr.includes(`npm install --save-dev s3rver@${repoPkg.devDependencies.s3rver}`), demo.stderr);
    assert.equal(demo.stdout, '', 'nothing started or printed before the check');
    t.diagnostic(`steps: ${timings.join(', ')}`);
  });
});
