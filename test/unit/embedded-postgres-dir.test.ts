import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reachableByOthers } from '../../devstack/embedded-postgres';

describe('reachableByOthers', () => {
  const base = mkdtempSync(join(tmpdir(), 'pg2ch-reach-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('is false below a directory others cannot pass through', () => {
    const inner = join(base, 'private', 'state');
    mkdirSync(inner, { recursive: true });
    chmodSync(join(base, 'private'), 0o700);
    chmodSync(base, 0o755);
    expect(reachableByOthers(inner)).toBe(false);
    // Directories not created yet count as reachable; their existing parents decide.
    expect(reachableByOthers(join(inner, 'not', 'yet'))).toBe(false);
  });

  it('is true when every directory up to / lets others through', () => {
    const open = join(base, 'open', 'state');
    mkdirSync(open, { recursive: true });
    chmodSync(join(base, 'open'), 0o711);
    chmodSync(open, 0o755);
    chmodSync(base, 0o755);
    expect(reachableByOthers(open)).toBe(reachableByOthers(tmpdir()));
    expect(reachableByOthers(tmpdir())).toBe(true);
  });
});
