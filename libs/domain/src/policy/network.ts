import { BlockList, isIP } from 'node:net';

/** Splits "10.0.0.0/8" (or a bare address, meaning one host) into address, prefix and family. */
function splitCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText, ...rest] = cidr.split('/');
  if (rest.length > 0 || address.includes('%')) return undefined; // zone ids mean nothing across hosts
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** True for "10.0.0.0/8", "2001:db8::/32" or a bare address. */
export function isValidCidr(cidr: string): boolean {
  return splitCidr(cidr) !== undefined;
}

/** "::ffff:10.1.2.3" -> "10.1.2.3": a dual-stack socket reports IPv4 clients in this form. */
export function normalizeIp(ip: string): string | undefined {
  const trimmed = ip.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed);
  const candidate = mapped ? mapped[1] : trimmed;
  return isIP(candidate) === 0 ? undefined : candidate;
}

/** Whether any of the CIDRs contains the address; an unparseable address matches nothing. */
export function ipInCidrs(ip: string, cidrs: string[]): boolean {
  const address = normalizeIp(ip);
  if (address === undefined) return false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parts = splitCidr(cidr);
    if (parts) list.addSubnet(parts.address, parts.prefix, parts.family);
  }
  try {
    return list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}
