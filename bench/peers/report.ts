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
  for (const d of r.downloads) {
    const bad = d.runs.find((x) => !x.verification.ok || x.exitCode !== 0);
    dl.push([
      `${d.objects.toLocaleString('en-US')} x ${size(d.objectSize)}`,
      d.tool,
      int(d.objectsPerSec),
      d.mibPerSec.toFixed(1),
      d.ratioToRclone === undefined ? '-' : `${d.ratioToRclone.toFixed(2)}x`,
      d.seconds.toFixed(2),
      d.cpuMsPerObject === undefined ? '-' : d.cpuMsPerObject.toFixed(3),
      bad === undefined ? `ok ${d.objects} files` : `FAILED ${JSON.stringify(bad.verification)} exit ${String(bad.exitCode)}`,
    ]);
  }
  lines.push(pad(dl));
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
