// Writes the workflow bundle to a file of your choice (npm run build already
// writes dist/workflow-bundle.js, which `pg2ch worker` loads by itself):
//   npm run build:bundle -- /path/bundle.js && PG2CH_WORKFLOW_BUNDLE=/path/bundle.js pg2ch worker
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflows } from '../worker/workflow-bundle';

async function main() {
  const out = process.argv[2] ?? '.pg2ch/workflow-bundle.js';
  const { code } = await bundleWorkflows();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  process.stdout.write(`wrote ${out} (${code.length} bytes)\n`);
}
main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
