/** The gateway benchmark's table for people (the JSON is the report object itself). */
import { destinationLine } from '../peers/report.js';
import type { GatewayBenchReport, GatewaySetResult, VariantRow } from './run.js';

function pad(cells: readonly string[][]): string {
  const widths = (cells[0] ?? []).map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i <= 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const size = (bytes: number): string => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`);
const ms = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(3));

function check(v: VariantRow, objects: number): string {
  const bad = v.runs.find((x) => !x.verification.ok || x.exitCode !== 0);
  return bad === undefined ? `ok ${objects} files` : `FAILED ${JSON.stringify(bad.verification)} exit ${String(bad.exitCode)}`;
}

/** The rows, the ratios against the targets, plain text. */
export function formatGatewayTable(r: GatewayBenchReport): string {
  const lines: string[] = [];
  lines.push(`Gateway benchmark: rclone direct vs rclone through readpath serve (${r.backends} stub backends), ${r.transfers} transfers, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.rclone}${r.repeat > 1 ? `, median of ${r.repeat} rounds` : ''}${r.quick ? ' (quick)' : ''}`);
  const warm = Object.entries(r.warmupCopies).map(([set, n]) => `${set} ${n}`).join(', ');
  lines.push(`Untimed warm-up, whole copies of each set through each path first: ${warm === '' ? 'none' : warm}`);
  lines.push(destinationLine(r.destination));
  const tweaks = [
    r.gatewayLogLevel === '' ? '' : `gateway log level ${r.gatewayLogLevel}`,
    r.gatewayNice === 0 ? '' : `gateway main thread nice ${r.gatewayNice}`,
    r.gatewayNodeArgs.length === 0 ? '' : `gateway node ${r.gatewayNodeArgs.join(' ')}`,
    r.gatewayMain === undefined ? '' : `gateway CLI ${r.gatewayMain}`,
    r.cpus === undefined ? '' : `CPUs split: rclone, stub and bench on ${r.cpus.client}, gateway on ${r.cpus.gateway}`,
  ].filter((x) => x !== '');
  if (tweaks.length > 0) lines.push(`Not the defaults: ${tweaks.join('; ')}`);
  lines.push('');
  const rows: string[][] = [['objects', 'variant', 'objects/s', 'MiB/s', 'seconds', 'rclone cpu ms/obj', 'stub cpu ms/obj', 'gateway cpu ms/obj', 'loop p99 ms', 'check']];
  const label = (v: VariantRow): string => (v.variant === 'direct' ? 'rclone direct' : `rclone via ${v.variant}`);
  const withCompared = (s: GatewaySetResult): GatewaySetResult[] => [s, ...r.compared.filter((c) => c.set === s.set)];
  for (const s0 of r.sets) {
    for (const [s, v] of [[s0, s0.direct] as const, ...withCompared(s0).map((c) => [c, c.gateway] as const)]) {
      rows.push([
        `${s.objects.toLocaleString('en-US')} x ${size(s.objectSize)}`,
        label(v),
        v.objectsPerSec === undefined ? 'FAILED' : int(v.objectsPerSec),
        v.mibPerSec === undefined ? 'FAILED' : v.mibPerSec.toFixed(1),
        v.seconds === undefined ? 'FAILED' : v.seconds.toFixed(2),
        ms(v.cpuMsPerObject),
        ms(v.stubCpuMsPerObject),
        v.variant === 'direct' ? '-' : ms(s.gatewayCpuMsPerObject),
        v.variant === 'direct' ? '-' : s.loop.p99Ms.toFixed(1),
        check(v, s.objects),
      ]);
    }
  }
  lines.push(pad(rows));
  lines.push('');
  const judged: string[][] = [['objects', 'gateway', 'figure', 'gateway / direct', 'per round', 'target', 'loop p99 (worst, max) ms', 'result']];
  for (const s of r.sets.flatMap(withCompared)) {
    judged.push([
      `${s.objects.toLocaleString('en-US')} x ${size(s.objectSize)}`,
      s.gateway.variant,
      s.target.metric === 'objectsPerSec' ? 'objects/s' : 'MiB/s',
      `${s.ratio.toFixed(2)}x`,
      s.roundRatios.map((x) => x.toFixed(2)).join(' '),
      `>= ${s.target.min}x, p99 <= ${r.loopP99TargetMs} ms`,
      `${s.loop.p99Ms.toFixed(1)} (${s.loop.worstP99Ms.toFixed(1)}, ${s.loop.maxMs.toFixed(1)})`,
      `${s.pass ? 'PASS' : 'FAIL'}${s.gateway.variant === 'gateway' ? '' : ' (not judged)'}`,
    ]);
  }
  lines.push(pad(judged));
  lines.push('');
  for (const [label, main] of Object.entries(r.compare)) lines.push(`gateway@${label}: ${main}`);
  lines.push(`${r.pass ? 'All targets met' : 'Targets missed'}; ${r.seconds.toFixed(1)} s in all; 1-minute load average ${r.machine.loadavg[0].toFixed(1)} before, ${r.machine.loadavg[1].toFixed(1)} after`);
  return `${lines.join('\n')}\n`;
}
