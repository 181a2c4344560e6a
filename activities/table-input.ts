import { UserError } from '../core/errors';
import { parseTableName, tableKey, type SourceTable } from '../core/table-name';
import { parseTableSettings, SettingsError, type TableSettings } from '../core/table-settings';

// Workflow input can come from any Temporal client: a table name or settings
// no CLI would send are refused as input errors, never retried.

/** The source table a workflow input names. */
export function sourceOfInput(table: string): SourceTable {
  try {
    return parseTableName(table);
  } catch (e) {
    throw new UserError((e as Error).message, 'BadTableName');
  }
}

/** A table's settings from workflow input, checked as the config file's are. */
export function settingsOfInput(raw: TableSettings | undefined, source: SourceTable): TableSettings {
  try {
    return parseTableSettings(raw, `settings of ${tableKey(source)}`);
  } catch (e) {
    if (e instanceof SettingsError) throw new UserError(e.message, 'BadConfig');
    throw e;
  }
}
