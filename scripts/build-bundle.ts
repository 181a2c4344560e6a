// Writes the workflow bundle once, so workers start without webpack:
//   npm run build:bundle && PG2CH_WORKFLOW_BUNDLE=.pg2ch/workflow-bundle.js pg2ch worker
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadWorkflowBundle } from '../worker/workflow-bundle';

async function main() {
  const out = process.argv[2] ?? '.pg2ch/workflow-bundle.js';
  const { code } = await loadWorkflowBundle('');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  process.stdout.write(`wrote ${out} (${code.length} bytes)\n`);
}
main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
