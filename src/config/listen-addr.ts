/**
 * `server.listen_addr`: Go's `HOST:PORT` as s3-orchestrator writes it, checked and split for
 * Node's `server.listen({ host, port })`. Also meant for `readpath serve --listen`.
 *
 * Accepted: `127.0.0.1:9000`, `localhost:9000`, `:9000` (every interface, as Go reads it; the
 * host is then `''`, which Node's listen also takes as "every interface"), `[::1]:9000`,
 * `[fe80::1%eth0]:9000`; port 0 (any free port) to 65535, digits only (no service names).
 * Messages never echo the text.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed listen address: `host` without brackets (`''` = every interface). */
export interface ListenAddr {
  host: string;
  port: number;
}

const EXAMPLES = '(e.g. 127.0.0.1:9000, :9000, [::1]:9000)';
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const ZONE = /^[A-Za-z0-9_.-]+$/;

function hostProblem(host: string, bracketed: boolean): string | undefined {
  if (bracketed) {
    const [addr = '', zone, ...more] = host.split('%');
    if (!isIPv6(addr) || more.length > 0 || (zone !== undefined && !ZONE.test(zone))) return 'the host in brackets must be an IPv6 address';
    return undefined;
  }
  if (host === '') return undefined;
  if (host.includes(':')) return `an IPv6 host must be in brackets ${EXAMPLES}`;
  if (/^[\d.]+$/.test(host)) return isIPv4(host) ? undefined : 'the host is not a valid IPv4 address';
  if (host.length > 253 || !HOSTNAME.test(host)) return 'the host must be an IP address or a host name (letters, digits, \'-\', \'.\')';
  return undefined;
}

/** Parse `HOST:PORT`; the message says what is wrong without repeating the text. */
export function parseListenAddr(text: string): ({ ok: true } & ListenAddr) | { ok: false; message: string } {
  const bad = (message: string) => ({ ok: false as const, message });
  if (text.includes('/')) return bad(`expected HOST:PORT, not a URL ${EXAMPLES}`);
  const colon = text.lastIndexOf(':');
  if (colon < 0) return bad(`expected HOST:PORT ${EXAMPLES}`);
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  const bracketed = host.startsWith('[') && host.endsWith(']') && host.length >= 2;
  if (bracketed) host = host.slice(1, -1);
  else if (host.includes('[') || host.includes(']')) return bad(`expected HOST:PORT ${EXAMPLES}`);
  const problem = hostProblem(host, bracketed);
  if (problem !== undefined) return bad(problem);
  if (!/^\d{1,5}$/.test(portText)) return bad(portText === '' ? `the port is missing ${EXAMPLES}` : 'the port must be a number from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) return bad('the port must be a number from 0 to 65535');
  return { ok: true, host, port };
}
