import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ConfigError } from '../core/config';
import { parseConfigFile, SettingsError, type ConfigFile } from '../core/table-settings';

export const DEFAULT_CONFIG_FILES = ['pg2ch.config.json', 'pg2ch.config.yaml', 'pg2ch.config.yml'];

/**
 * The config file: the one --config names (it must exist), else the first
 * default name present in the working directory, else none (every table on
 * defaults). Problems are ConfigErrors naming the file and key.
 */
export function loadConfigFile(explicit: string | undefined, cwd = process.cwd()): ConfigFile | undefined {
  let path: string;
  if (explicit !== undefined) {
    path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new ConfigError(`--config ${explicit}: no such file`);
  } else {
    const found = DEFAULT_CONFIG_FILES.map((f) => resolve(cwd, f)).filter((p) => existsSync(p));
    if (found.length === 0) return undefined;
    if (found.length > 1) throw new ConfigError(`both ${found.join(' and ')} exist; keep one, or choose with --config`);
    path = found[0]!;
  }
  const shown = explicit ?? relative(cwd, path);
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    // yaml loads only for a YAML file: every command reads this, most with JSON or no file at all.
    raw = /\.json$/i.test(path) ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text);
  } catch (e) {
    throw new ConfigError(`${shown} cannot be read: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return parseConfigFile(shown, raw);
  } catch (e) {
    if (e instanceof SettingsError) throw new ConfigError(e.message);
    throw e;
  }
}
