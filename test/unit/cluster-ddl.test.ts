import { describe, expect, it } from 'vitest';
import { decideDdl, hostError, type HostState } from '../../core/cluster-ddl';

const host = (replica: number) => ({ shard: 1, replica, address: `127.0.0.1:900${replica}` });
const has = (replica: number, tables: string[]): HostState => ({ host: host(replica), databases: new Set(['db']), tables: new Set(tables.map((t) => `db.${t}`)) });
const down = (replica: number): HostState => ({ host: host(replica), error: 'Connection refused' });
const wanted = { database: 'db', tables: ['sync_control', 't'] };

describe('decideDdl', () => {
  it('sends nothing when every reachable host has everything, even with a host down', () => {
    expect(decideDdl('c', [has(1, ['sync_control', 't']), has(2, ['sync_control', 't'])], wanted).kind).toBe('none');
    const d = decideDdl('c', [has(1, ['sync_control', 't']), down(2)], wanted);
    expect(d.kind).toBe('none');
  });

  it('creates when a host lacks a table and all answer', () => {
    const d = decideDdl('c', [has(1, ['sync_control', 't']), has(2, ['sync_control'])], wanted);
    expect(d).toEqual({ kind: 'create', missing: new Map([['127.0.0.1:9002', ['db.t']]]) });
    const none: HostState = { host: host(2), databases: new Set(), tables: new Set() };
    expect(decideDdl('c', [has(1, ['sync_control', 't']), none], wanted)).toMatchObject({ missing: new Map([['127.0.0.1:9002', ['db', 'db.sync_control', 'db.t']]]) });
  });

  it('is blocked, naming the down host, when something is missing and a host is down', () => {
    const d = decideDdl('c', [has(1, ['sync_control']), down(2)], wanted);
    expect(d.kind).toBe('blocked');
    if (d.kind === 'blocked') {
      expect(d.message).toContain('127.0.0.1:9002 (shard 1, replica 2): Connection refused');
      expect(d.message).toContain('cannot create db.t on cluster c');
    }
  });

  it('is blocked when the cluster is unknown', () => {
    const d = decideDdl('nope', [], wanted);
    expect(d.kind === 'blocked' && d.message).toContain('"nope" is not in');
  });
});

describe('hostError', () => {
  it("takes 18.16's cause from the lines after 'All connection tries failed'", () => {
    const msg = 'Code: 279, e.displayText() = DB::NetException: All connection tries failed. Log: \n\nCode: 210, e.displayText() = DB::NetException: Connection refused (127.0.0.1:44719), e.what() = DB::NetException\n';
    expect(hostError(new Error(msg))).toBe('Connection refused (127.0.0.1:44719)');
  });
});
