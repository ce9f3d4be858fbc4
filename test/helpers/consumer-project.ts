/**
 * A throw-away project that depends on readpath the way a user's does — through the packed
 * tarball — for test/package/packaging.test.ts.
 *
 * It is installed with `npm ci --offline`, from npm's cache only. A fresh project cannot
 * simply `npm install` the tarball offline: npm would resolve every dependency range against
 * registry metadata the cache does not hold (`npm ci` fetches tarballs, not metadata), and
 * could pick versions newer than the ones cached. So the project gets a lockfile instead:
 * the entries of readpath's own package-lock.json that readpath's runtime dependencies reach —
 * exactly the tarballs the repository's `npm ci` fetched — plus the tarball itself.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a package.json and a lockfile entry both say of a package. */
interface PackageFields {
  license?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  bin?: Record<string, string> | string;
  engines?: Record<string, string>;
}

/** One entry of a lockfile's `packages`. */
export interface LockEntry extends PackageFields {
  version?: string;
  resolved?: string;
  integrity?: string;
  os?: string[];
  cpu?: string[];
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  link?: boolean;
  [more: string]: unknown;
}

/** A package-lock.json (lockfileVersion 2 or 3). */
export interface Lockfile {
  name?: string;
  version?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

/** The fields of a package.json the lockfile needs. */
export interface Manifest extends PackageFields {
  name: string;
  version: string;
}

interface Edge { name: string; optional: boolean }

function edgesOf(e: Pick<LockEntry, 'dependencies' | 'optionalDependencies' | 'peerDependencies' | 'peerDependenciesMeta'>): Edge[] {
  const out: Edge[] = [];
  for (const name of Object.keys(e.dependencies ?? {})) out.push({ name, optional: false });
  for (const name of Object.keys(e.optionalDependencies ?? {})) out.push({ name, optional: true });
  for (const name of Object.keys(e.peerDependencies ?? {})) out.push({ name, optional: e.peerDependenciesMeta?.[name]?.optional === true });
  return out;
}

/** Where `name` resolves from the package at `from` ('' for the root), as Node resolves it. */
export function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

/**
 * The lockfile paths reached from the root's `roots` edges, walking dependencies (optional ones
 * when present: a platform-specific package of another platform is absent from the lock).
 * `required` holds the paths some chain of non-optional edges reaches.
 */
export function lockClosure(packages: Record<string, LockEntry>, roots: Edge[]): { all: Set<string>; required: Set<string> } {
  const walk = (withOptional: boolean): Set<string> => {
    const seen = new Set<string>();
    const queue: { from: string; edges: Edge[] }[] = [{ from: '', edges: roots }];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      for (const edge of item.edges) {
        if (edge.optional && !withOptional) continue;
        const at = resolveInLock(packages, item.from, edge.name);
        if (at === undefined) {
          if (edge.optional) continue;
          throw new Error(`package-lock.json has no ${edge.name} reachable from ${item.from === '' ? 'the root' : item.from}`);
        }
        if (seen.has(at)) continue;
        seen.add(at);
        queue.push({ from: at, edges: edgesOf(packages[at] as LockEntry) });
      }
    }
    return seen;
  };
  return { all: walk(true), required: walk(false) };
}

/** `sha512-…` of a file, as npm writes integrity. */
export function fileIntegrity(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/** What {@link consumerLockfile} builds. */
export interface ConsumerProject {
  packageJson: Record<string, unknown>;
  lockfile: Lockfile;
  /** Lockfile paths of the packages installed for the dependency on readpath (not counting readpath). */
  runtimePackages: string[];
}

/**
 * package.json and package-lock.json of a project that depends on the packed `manifest`
 * (`tarball`, a file name beside the project's package.json) and, as devDependencies, on
 * `devPackages` at the versions `repoLock` holds (e.g. `@types/node`).
 */
export function consumerLockfile(opts: {
  repoLock: Lockfile;
  manifest: Manifest;
  tarball: string;
  integrity: string;
  devPackages?: readonly string[];
}): ConsumerProject {
  const { repoLock, manifest, tarball } = opts;
  const pkgs = repoLock.packages;
  const runtime = lockClosure(pkgs, edgesOf(manifest));
  const devDependencies: Record<string, string> = {};
  for (const name of opts.devPackages ?? []) {
    const version = pkgs[`node_modules/${name}`]?.version;
    if (version === undefined) throw new Error(`package-lock.json has no top-level ${name}`);
    devDependencies[name] = version;
  }
  const dev = lockClosure(pkgs, Object.keys(devDependencies).map((name) => ({ name, optional: false })));

  const spec = `file:${tarball}`;
  const packageJson = {
    name: 'readpath-consumer', version: '0.0.0', private: true, type: 'module',
    dependencies: { [manifest.name]: spec }, devDependencies,
  };
  const packages: Record<string, LockEntry> = {
    '': { name: packageJson.name, version: packageJson.version, dependencies: { [manifest.name]: spec }, devDependencies },
    [`node_modules/${manifest.name}`]: strip({
      version: manifest.version, resolved: spec, integrity: opts.integrity, license: manifest.license,
      dependencies: manifest.dependencies, optionalDependencies: manifest.optionalDependencies,
      peerDependencies: manifest.peerDependencies, peerDependenciesMeta: manifest.peerDependenciesMeta,
      bin: manifest.bin, engines: manifest.engines,
    }),
  };
  for (const path of [...runtime.all, ...dev.all].sort()) {
    if (packages[path] !== undefined) continue;
    const { dev: _d, optional: _o, devOptional: _do, peer: _p, ...entry } = pkgs[path] as LockEntry;
    const isRuntime = runtime.all.has(path);
    const required = isRuntime ? runtime.required.has(path) : dev.required.has(path);
    const flags: Partial<LockEntry> = isRuntime ? {} : { dev: true };
    if (!required) flags.optional = true;
    packages[path] = { ...entry, ...flags };
  }
  return {
    packageJson,
    lockfile: { name: packageJson.name, version: packageJson.version, lockfileVersion: 3, requires: true, packages },
    runtimePackages: [...runtime.all].sort(),
  };
}

function strip(entry: LockEntry): LockEntry {
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
}
