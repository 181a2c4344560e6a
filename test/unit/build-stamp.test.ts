import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_SOURCES, WORKFLOW_SOURCES, cliCurrent, sourceStamp, workflowBundleCurrent } from '../../scripts/build-stamp.cjs';

// A copy of the layout the stamps look at, so files can be edited freely.
const root = mkdtempSync(join(tmpdir(), 'pg2ch-stamp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const write = (rel: string, text: string) => {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), text);
};
const stampDist = () => {
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, 'dist', 'cli.stamp'), sourceStamp(CLI_SOURCES, root) + '\n');
  writeFileSync(join(root, 'dist', 'workflow-bundle.stamp'), sourceStamp(WORKFLOW_SOURCES, root) + '\n');
};

describe('build stamps', () => {
  write('client/cli.ts', 'export {};\n');
  write('activities/copy.ts', 'export const a = 1;\n');
  write('workflows/index.ts', 'export const w = 1;\n');
  write('core/keyset.ts', 'export const k = 1;\n');
  write('package.json', '{}\n');

  it('a missing dist/ is not current', () => {
    expect(cliCurrent(root)).toBe(false);
    expect(workflowBundleCurrent(root)).toBe(false);
  });

  it('dist/ built from the sources as they are is current', () => {
    stampDist();
    expect(cliCurrent(root)).toBe(true);
    expect(workflowBundleCurrent(root)).toBe(true);
  });

  it('an edited activity makes the CLI stale, not the workflow bundle', () => {
    stampDist();
    write('activities/copy.ts', 'export const a = 22;\n');
    expect(cliCurrent(root)).toBe(false);
    expect(workflowBundleCurrent(root)).toBe(true);
  });

  it('edited workflow code, a new file or a touched one (same size) makes both stale', () => {
    for (const edit of [
      () => write('workflows/index.ts', 'export const w = 2;\n'),
      () => write('core/new.ts', 'export {};\n'),
      () => utimesSync(join(root, 'core/keyset.ts'), new Date(), new Date(Date.now() + 5000)),
    ]) {
      stampDist();
      edit();
      expect(cliCurrent(root)).toBe(false);
      expect(workflowBundleCurrent(root)).toBe(false);
    }
  });
});
