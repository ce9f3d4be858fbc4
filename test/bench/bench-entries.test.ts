/**
 * What every `npm run bench*` entry does before and after its measurement, as a user meets it:
 * `--help` prints the entry's usage and starts nothing; a mistyped argument or a missing peer
 * tool is exit 2 with a message, before anything is started; a run stopped by SIGINT removes
 * its temporary directories and stops what it started (here the lookups bench: an S3 stub
 * process and a PostgreSQL cluster). Each child gets a TMPDIR of its own, so "nothing left"
 * is an empty directory. No timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';
import { alive, descendants, hasArg, leftIn, processesMentioning, sigintPartWay, socketsOf } from '../helpers/bench-processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const base = await mkdtemp(path.join(os.tmpdir(), 'readpath-bench-entries-test-'));
// PostgreSQL runs as its own user and must reach its cluster under the child's TMPDIR.
await chmod(base, 0o755);
let n = 0;
async function privateTmp(): Promise<string> {
  const dir = path.join(base, `t${n++}`);
  await mkdir(dir);
  await chmod(dir, 0o755);
  return dir;
}

after(async () => {
  // A run that did not clean up (the bug this file guards against) must not outlive the test.
  for (const pid of processesMentioning(base)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await rm(base, { recursive: true, force: true });
});

/** `npm run bench*` scripts' entries, from package.json: dist/bench/X.js -> bench/X.ts. */
async function benchEntries(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const out: string[] = [];
  for (const [name, script] of Object.entries(pkg.scripts)) {
    if (name !== 'bench' && !name.startsWith('bench:')) continue;
    const m = /node dist\/(bench\/[\w.-]+)\.js/.exec(script);
    assert.ok(m !== null, `${name}: ${script}`);
    out.push(`${m[1] as string}.ts`);
  }
  return out;
}

test('--help: every npm bench entry prints its usage, exits 0 and starts nothing', async () => {
  const entries = await benchEntries();
  assert.ok(entries.length >= 10, entries.join(' '));
  for (const entry of entries) {
    const tmp = await privateTmp();
    const r = await runTsScript(path.join(ROOT, entry), ['--help'], { env: { ...process.env, TMPDIR: tmp }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${entry}: ${r.stderr}`);
    const header = /^\/\*\*\n \* (.+)$/m.exec(await readFile(path.join(ROOT, entry), 'utf8'));
    assert.ok(header !== null, entry);
    assert.equal(r.stdout.split('\n')[0], header[1], `${entry} printed:\n${r.stdout.slice(0, 500)}`);
    assert.deepEqual(await leftIn(tmp), [], `${entry} --help left files in its TMPDIR`);
  }
});

test('npm run bench: unknown flags, scenarios and values are exit 2 before anything runs', async () => {
  const out = path.join(base, 'run-all-out');
  for (const [args, message] of [
    [['--only', 'heavy-tial'], /--only: no scenario "heavy-tial"; the scenarios are fastest, first-down, heavy-tail, s3, s3-first/],
    [['--quik'], /unknown argument "--quik"/],
    [['--threads', 'two'], /--threads: expected an integer/],
    [['--executor', 'workers'], /--executor: "workers"/],
    [['--only'], /--only needs a value/],
  ] as const) {
    const r = await runTsScript(path.join(ROOT, 'bench/run-all.ts'), [...args, '--out', out, '--quick'], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, message);
    assert.deepEqual(await readdir(base).then((x) => x.includes('run-all-out')), false, `${args.join(' ')} wrote ${out}`);
  }
});

test('every bench entry refuses an unknown flag and a bad value: exit 2 naming the flag, nothing started', async () => {
  // A value each entry must refuse; run-all has a test of its own above.
  const bad: Record<string, readonly string[]> = {
    'bench/core.bench.ts': ['--json'],
    'bench/transport.bench.ts': ['--sizes', '4KB'],
    'bench/peers.bench.ts': ['--repeat', 'x'],
    'bench/gateway.bench.ts': ['--gateway-nice', 'high'],
    'bench/stream.bench.ts': ['--rss-mib', '64,huge'],
    'bench/encryption.bench.ts': ['--pools', 'default,two'],
    'bench/compression.bench.ts': ['--mib', '0'],
    'bench/head.bench.ts': ['--rounds', '0'],
    'bench/lookups.bench.ts': ['--compare', 'before'],
    'bench/broadcast.bench.ts': ['--reads', 'x'],
    'bench/pool.bench.ts': ['--worker-nice', 'x'],
    'bench/pool-mailbox.bench.ts': ['--threads', '0'],
  };
  const entries = [...new Set([...(await benchEntries()).filter((e) => e !== 'bench/run-all.ts'), ...Object.keys(bad)])];
  for (const entry of entries) {
    const value = bad[entry];
    assert.ok(value !== undefined, `${entry}: add a bad value for it here`);
    for (const args of [['--quik'], value]) {
      const tmp = await privateTmp();
      // A refused command line ends at once; the timeout only bounds an entry that (wrongly) starts its run.
      const r = await runTsScript(path.join(ROOT, entry), args, { env: { ...process.env, TMPDIR: tmp }, timeoutMs: 90_000 });
      assert.equal(r.code, 2, `${entry} ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
      assert.ok(r.stderr.includes(args[0] as string), `${entry} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${entry} ${args.join(' ')} printed a report`);
      assert.deepEqual(await leftIn(tmp), [], `${entry} ${args.join(' ')} left files in its TMPDIR`);
    }
  }
});

test('bench/soak.ts reads its flags strictly: an unknown flag or a bad value is exit 2 before any child starts; good ones run', async () => {
  const soak = path.join(ROOT, 'bench/soak.ts');
  // Small sizes: a command line wrongly accepted runs to its end in seconds and fails the exit code.
  const small = ['--sizes', '200,400', '--max-ratio', '100'];
  for (const [args, flag] of [
    [['--quik', ...small], '--quik'],
    [['--sizes', '10k,100'], '--sizes'],
    [['--repeat', 'x', ...small], '--repeat'],
    [['--op', 'put', ...small], '--op'],
    [['--outage', '2', ...small], '--outage'],
    [['--concurrency', ...small], '--concurrency'],
    [['--keys', '100', ...small], '--keys'],
    [['--child', '--keys', '100', '--json', path.join(base, 'soak.json')], '--json'],
  ] as const) {
    const tmp = await privateTmp();
    const r = await runTsScript(soak, args, { env: { ...process.env, TMPDIR: tmp }, timeoutMs: 120_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    assert.ok(r.stderr.includes(flag), `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')} printed a report`);
    assert.deepEqual(await leftIn(tmp), [], `${args.join(' ')} left files in its TMPDIR`);
  }
  const help = await runTsScript(soak, ['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Soak: does resident memory stay flat/);
  // The flags the parent hands its children still reach them.
  const json = path.join(base, 'soak-ok.json');
  const ok = await runTsScript(soak, [...small, '--op', 'head', '--cache-max', '50', '--outage', '0', '--json', json], { timeoutMs: 120_000 });
  assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
  const report = JSON.parse(await readFile(json, 'utf8')) as { runs: { keys: number; ok: number; degraded: number }[] };
  assert.deepEqual(report.runs.map((x) => [x.keys, x.ok, x.degraded]), [[200, 200, 0], [400, 400, 0]], 'both sizes read whole, no outage');
});

test('a missing peer tool is exit 2 naming it, before any stub is started', async () => {
  const tmp = await privateTmp();
  const emptyPath = path.join(base, 'empty-path');
  await mkdir(emptyPath);
  for (const [entry, args, tool] of [
    ['bench/peers.bench.ts', ['--quick', '--no-library'], 'rclone'],
    ['bench/peers.bench.ts', ['--quick', '--no-library', '--aws'], 'rclone, aws'],
    ['bench/gateway.bench.ts', ['--quick'], 'rclone'],
  ] as const) {
    const r = await runTsScript(path.join(ROOT, entry), args, { env: { ...process.env, PATH: emptyPath, TMPDIR: tmp }, timeoutMs: 120_000 });
    assert.equal(r.code, 2, `${entry}: ${r.stdout}\n${r.stderr}`);
    assert.ok(r.stderr.includes(`${tool} not found on PATH`), r.stderr);
    assert.equal(r.stdout, '', 'no table of a run that did not happen');
    assert.deepEqual(await leftIn(tmp), [], `${entry} left files in its TMPDIR`);
  }
});

test('SIGINT part-way: the lookups bench removes its temporary files and stops its stub and PostgreSQL', async () => {
  const tmp = await privateTmp();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lookups.bench.ts'), '--count', '200000', '--rounds', '1'], {
    cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Wait until the bench has created its database in the cluster (template0, template1,
  // postgres, lookups): the cluster is then up and the bench is seeding it.
  let started: number[] = [];
  for (let i = 0; i < 1200 && started.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const pg = (await readdir(tmp).catch(() => [] as string[])).find((e) => e.startsWith('readpath-pg-'));
    if (pg !== undefined && (await readdir(path.join(tmp, pg, 'data', 'base')).catch(() => [] as string[])).length >= 4) started = processesMentioning(tmp);
    if (child.exitCode !== null) break;
  }
  assert.ok(started.length > 0, `no PostgreSQL server started under ${tmp}:\n${stderr}`);
  const kids = descendants(child.pid as number);
  assert.ok(kids.length > 0, 'the stub process runs');
  child.kill('SIGINT');
  const end = await exited;
  assert.deepEqual(end, { code: 130, signal: null }, stderr);
  // What it started goes with it: its IPC children on their own, PostgreSQL from its exit.
  for (let i = 0; i < 100 && [...kids, ...processesMentioning(tmp)].some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual([...kids, ...processesMentioning(tmp)].filter(alive), [], 'processes left running');
  assert.deepEqual(await leftIn(tmp), [], 'files left in TMPDIR');
});

// Long windows: each run is stopped long before its end.
const TRANSPORT_ARGS = ['--sizes', '4KiB', '--only', 'node:http', '--seconds', '600', '--rounds', '1'];
// The stub is the bench's forked child (`transport.bench.ts --stub`); measuring, it holds the
// 64 client connections.
test('SIGINT while its stub starts: the transport bench exits 130 and its stub process goes with it', async () =>
  sigintPartWay({ argv: [path.join(ROOT, 'bench/transport.bench.ts'), ...TRANSPORT_ARGS], tmp: await privateTmp(), ready: (kids) => kids.some((k) => hasArg(k, '--stub')), what: 'started its stub' }));
test('SIGINT while it measures: the transport bench exits 130 and its stub process goes with it', async () =>
  sigintPartWay({ argv: [path.join(ROOT, 'bench/transport.bench.ts'), ...TRANSPORT_ARGS], tmp: await privateTmp(), ready: (kids) => kids.some((k) => hasArg(k, '--stub') && socketsOf(k) >= 32), what: 'served the clients' }));

test('SIGINT once its object servers run: the stream bench exits 130 and its server process goes with it', async () =>
  // Small objects: the servers start first, then the bench hashes its objects ('hashing …' on
  // stderr: the servers have answered) and runs readpath.
  sigintPartWay({
    argv: [path.join(ROOT, 'bench/stream.bench.ts'), '--huge-mib', '64', '--rss-mib', '64', '--striped-mib', '8', '--rounds', '1', '--small', '10'], tmp: await privateTmp(),
    ready: (kids, output) => kids.some((k) => hasArg(k, 'server-process.ts')) && output.includes('hashing'), what: 'started its object servers',
  }));

test('SIGINT while a child measures: bench/soak.ts exits 130 and its child process goes with it', async () =>
  // A batch far longer than the wait: the child (`soak.ts --child`) has no IPC channel to see its parent go by.
  sigintPartWay({
    argv: [path.join(ROOT, 'bench/soak.ts'), '--sizes', '50000000'], tmp: await privateTmp(),
    ready: (kids) => kids.some((k) => hasArg(k, '--child')), what: 'started a child',
  }));
