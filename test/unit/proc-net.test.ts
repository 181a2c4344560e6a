import { describe, expect, it } from 'vitest';
import { listeningInodes, socketInode } from '../../core/proc-net';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 773699 1 000000004664b3e4 100 0 0 10 0
   1: 0100007F:1C41 0100007F:D6CB 01 00000000:00000000 00:00000000 00000000     0        0 775504 1 000000008249ec79 100 0 0 10 0
   2: 00000000:2031 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1589 1 000000001bdc1b59 100 0 0 10 0
   3: 0100007F:D5A9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 000000001bdc1b59 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1C41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99123 1 0000000000000000 100 0 0 10 0
`;

describe('listeningInodes', () => {
  it('finds the listening sockets of a port, not its connections or other ports', () => {
    expect(listeningInodes(TCP, 7233)).toEqual(['773699']);
    expect(listeningInodes(TCP, 8241)).toEqual(['1589']);
    expect(listeningInodes(TCP, 5432)).toEqual([]);
  });
  it('reads IPv6 addresses, and skips sockets without an inode', () => {
    expect(listeningInodes(TCP6, 7233)).toEqual(['99123']);
    expect(listeningInodes(TCP, 0xd5a9)).toEqual([]);
  });
});

describe('socketInode', () => {
  it('takes the inode of a socket link only', () => {
    expect(socketInode('socket:[773699]')).toBe('773699');
    expect(socketInode('pipe:[773699]')).toBeUndefined();
    expect(socketInode('/dev/null')).toBeUndefined();
  });
});
