import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, parsePositiveInt, readTemporalConfig } from '../core/config';
import { UserError } from '../core/errors';
import { formatResult, startSync } from './commands/sync';
import { runWorkerCommand } from './commands/worker';
import { connectTemporal } from './temporal-client';

const out = (line: string) => process.stdout.write(line + '\n');

function positiveInt(name: string) {
  return (raw: string) => {
    try {
      return parsePositiveInt(name, raw);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function buildProgram(): Command {
  const program = new Command('pg2ch')
    .description('Durable PostgreSQL -> ClickHouse sync on Temporal')
    .exitOverride();

  program
    .command('worker')
    .description('run a worker: polls the task queue and runs syncs (Ctrl-C stops it gracefully)')
    .action(async () => {
      await runWorkerCommand(process.env, out);
    });

  program
    .command('sync')
    .description('start the sync workflow sync:<table>, or join the one already running')
    .argument('<table>', 'PostgreSQL table: table or schema.table')
    .option('--once', 'wait until the table is caught up and print what was copied')
    .option('--chunk-rows <n>', 'rows per chunk (default 500000)', positiveInt('--chunk-rows'))
    .action(async (table: string, opts: { once?: boolean; chunkRows?: number }) => {
      const temporal = readTemporalConfig(process.env);
      const client = await connectTemporal(temporal);
      try {
        const result = await startSync(client, temporal, table, { once: !!opts.once, chunkRows: opts.chunkRows }, out);
        if (result) out(formatResult(result));
      } finally {
        await client.connection.close();
      }
    });
  return program;
}

/** User errors are one line on stderr and exit code 1 (2 for usage); no stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError || err instanceof UserError) {
      process.stderr.write(`pg2ch: ${err.message}\n`);
      return err instanceof ConfigError ? 2 : 1;
    }
    process.stderr.write(`pg2ch: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module || process.env.PG2CH_CLI_MAIN === '1') {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
