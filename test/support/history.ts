import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

/**
 * A history file as `temporal workflow show --output json` writes it, read
 * into the SDK's History type. The SDK's own historyFromJSON pairs the
 * protobufjs of @temporalio/common with the types of @temporalio/proto, two
 * copies npm keeps apart here ("type must be a Type"); reading it with the
 * copy the types were built with avoids that.
 */
export function loadHistory(path: string): proto.temporal.api.history.v1.IHistory {
  const protoDir = dirname(require.resolve('@temporalio/proto/package.json'));
  const { fromJson } = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as {
    fromJson: (type: unknown, json: unknown, options: object) => proto.temporal.api.history.v1.IHistory | null;
  };
  // The module itself, as the SDK passes it: an ESM namespace wrapper has no nested types.
  const root = patchProtobufRoot(require('@temporalio/proto')) as unknown as { lookupType(name: string): unknown };
  const history = fromJson(root.lookupType('temporal.api.history.v1.History'), JSON.parse(readFileSync(path, 'utf8')), { ignoreUnknownFields: true });
  if (history === null) throw new Error(`${path} holds no history`);
  return history;
}
