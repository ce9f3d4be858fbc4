/**
 * CIDR notation as `rate_limit.trusted_proxies` takes it: `ADDR/PREFIX`, or one address (all of
 * its bits). Checked with node:net's own address parser; matched with node:net's BlockList.
 */
import { isIP } from 'node:net';

/** A parsed CIDR. */
export interface Cidr { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/** Parse `ADDR/PREFIX` (or a bare address); undefined when it is not one. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.lastIndexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const p = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
  return { address, prefix: Number(p), family: v === 4 ? 'ipv4' : 'ipv6' };
}
