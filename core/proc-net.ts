/**
 * Reading Linux's /proc/net/tcp and tcp6: which sockets listen on a port.
 * Each line after the header is "sl local_address rem_address st ... inode":
 * the address is hex (port after the colon), state 0A is LISTEN, and the
 * inode links the socket to the process holding it (/proc/<pid>/fd/* ->
 * socket:[inode]).
 */
const LISTEN = '0A';

/** Inodes of the sockets listening on `port` in one /proc/net/tcp{,6} text. */
export function listeningInodes(procNetTcp: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1]!;
    const hexPort = local.slice(local.lastIndexOf(':') + 1);
    if (f[3] === LISTEN && parseInt(hexPort, 16) === port && f[9] !== '0') inodes.push(f[9]!);
  }
  return inodes;
}

/** The inode in an fd's link target "socket:[12345]", or undefined for anything else. */
export function socketInode(linkTarget: string): string | undefined {
  return /^socket:\[(\d+)\]$/.exec(linkTarget)?.[1];
}
