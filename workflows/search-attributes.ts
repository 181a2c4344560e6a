import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The Web UI's list filters by table with: Pg2chTable = "activity_logs". */
export const PG2CH_TABLE = defineSearchAttributeKey('Pg2chTable', SearchAttributeType.KEYWORD);

/** Start options that tag a workflow with its table, when the server has the attribute. */
export function tableSearchAttributes(table: string, indexed: boolean | undefined) {
  return indexed ? { typedSearchAttributes: [{ key: PG2CH_TABLE, value: table }] } : {};
}
