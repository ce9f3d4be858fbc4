/** The peer benchmark's table for people (the JSON is the report object itself). */
import path from 'node:path';
import type { DownloadDestination } from './download-dirs.js';
import type { PeerBenchReport } from './run.js';

function pad(cells: readonly string[][]): string {
  const widths = (cells[0] ?? []).map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const size = (bytes: number): string => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`);

/** Where a bench's downloads went, for the line under its title. */
export function destinationLine(d: DownloadDestination): string {
  return `Downloads under ${path.dirname(d.path)} (${d.fs}), each kept until the end of the run`;
}

/** Both tables, plain text. */
export function formatPeerTable(r: PeerBenchReport): string {
  const lines: string[] = [];
  lines.push(`Peer benchmark: ${r.backends} stub backends, ${r.transfers} transfers, ${r.machine.cores} cores, Node ${r.machine.node}${r.repeat > 1 ? `, median of ${r.repeat} rounds` : ''}${r.quick ? ' (quick)' : ''}`);
  lines.push(destinationLine(r.destination));
  lines.push('');
  const dl: string[][] = [['objects', 'tool', 'objects/s', 'MiB/s', 'x rclone', 'seconds', 'cpu ms/object', 'check']];
  const failures: string[] = [];
  for (const d of r.downloads) {
    const bad = d.runs.find((x) => !x.ok);
    // A failed tool's row has no figures (run.ts keeps none): FAILED in their place.
    const fig = (n: number | undefined, text: (n: number) => string): string => (n === undefined ? 'FAILED' : text(n));
    dl.push([
      `${d.objects.toLocaleString('en-US')} x ${size(d.objectSize)}`,
      d.tool,
      fig(d.objectsPerSec, int),
      fig(d.mibPerSec, (n) => n.toFixed(1)),
      d.ratioToRclone === undefined ? '-' : `${d.ratioToRclone.toFixed(2)}x`,
      fig(d.seconds, (n) => n.toFixed(2)),
      d.cpuMsPerObject === undefined ? '-' : d.cpuMsPerObject.toFixed(3),
      bad === undefined ? `ok ${d.objects} ${d.tool === 'floor:receive' ? 'bodies' : 'files'}` : `FAILED ${JSON.stringify(bad.verification)} exit ${String(bad.exitCode)}`,
    ]);
    d.runs.forEach((x, i) => {
      if (x.ok) return;
      const tail = (x.stderr ?? '').trimEnd().split('\n').slice(-10).join('\n');
      failures.push(`${d.tool} on ${d.set}, round ${i + 1}: FAILED, exit ${String(x.exitCode)}, ${JSON.stringify(x.verification)}; stderr tail:\n${tail === '' ? '(empty)' : tail.replace(/^/gm, '  ')}`);
    });
  }
  lines.push(pad(dl));
  if (r.downloads.some((d) => d.tool.startsWith('floor:'))) {
    lines.push('floor:contract = a bare Node client doing only the contract (lookup, signed GET, SHA-256 check, atomic write); floor:receive = its GETs alone, bodies dropped');
  }
  if (failures.length > 0) lines.push('', ...failures);
  if (r.library.length > 0) {
    lines.push('');
    lines.push(`Library: verified 4 KiB reads, 64 in flight, ${r.library[0]?.reads ?? 0} keys`);
    const lib: string[][] = [['variant', '', 'reads/s', 'x ceiling', 'loop p99 ms', 'loop max ms', 'verified']];
    for (const l of r.library) {
      lib.push([l.variant, '', int(l.readsPerSec), l.ratioToCeiling === undefined ? '-' : `${l.ratioToCeiling.toFixed(2)}x`, l.loopP99Ms.toFixed(1), l.loopMaxMs.toFixed(1), `${l.verified}/${l.reads}`]);
    }
    lines.push(pad(lib));
  }
  lines.push('');
  lines.push(`${r.seconds.toFixed(1)} s in all; 1-minute load average ${r.machine.loadavg[0].toFixed(1)} before, ${r.machine.loadavg[1].toFixed(1)} after`);
  return `${lines.join('\n')}\n`;
}
