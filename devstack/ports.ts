import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { listeningInodes, socketInode } from '../core/proc-net';

/** A port npm start needs is taken: one line saying which, by what, and how to move it. Exit code 2. */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

/** Whether something listens on host:port already (we cannot bind it). */
export async function portTaken(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(false)));
  });
}

/**
 * "temporal (pid 1234)": the process listening on a port, from /proc (Linux).
 * Undefined when unknown: no /proc, or the holder is another user's process.
 */
export function portHolder(port: number): string | undefined {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const i of listeningInodes(readFileSync(f, 'utf8'), port)) inodes.add(i);
    } catch {
      // no such file: not Linux, or no IPv6
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let inode: string | undefined;
      try {
        inode = socketInode(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        continue;
      }
      if (inode && inodes.has(inode)) {
        let name = '?';
        try {
          name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          // gone meanwhile
        }
        return `${name} (pid ${pid})`;
      }
    }
  }
  return undefined;
}

export interface PortNeed {
  port: number;
  /** What listens there, as the user knows it: "Temporal", "the Temporal Web UI". */
  what: string;
  /** How to move it, e.g. "set PG2CH_DEMO_TEMPORAL_PORT to another port, or TEMPORAL_ADDRESS to use the server already running". */
  move: string;
}

/** Fails, before anything starts, on the first port that is taken. */
export async function assertPortsFree(needs: PortNeed[]): Promise<void> {
  for (const n of needs) {
    if (!(await portTaken(n.port))) continue;
    const holder = portHolder(n.port);
    throw new PortInUseError(`port ${n.port} (${n.what}) is already in use${holder ? ` by ${holder}` : ''}: stop that, or ${n.move}`);
  }
}
