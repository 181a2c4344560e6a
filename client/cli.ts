import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, DEFAULT_PARALLEL, DEFAULT_PARTITIONS, parsePositiveInt } from '../core/options';
import { UserError } from '../core/errors';
import type { ScheduleSettings } from './commands/schedule';
import type { BackfillOptions } from './commands/backfill';
import type { TableOutcome } from './commands/sync';
import type { Client } from '@temporalio/client';

// Each command loads its code (and the Temporal SDK, zod, the drivers) when
// it runs, so `pg2ch --help` and a usage error load none of it.
const load = {
  config: () => import('../core/config'),
  configFile: () => import('./config-file'),
  tableSettings: () => import('../core/table-settings'),
  progress: () => import('./progress-view'),
  temporal: () => import('./temporal-client'),
  sync: () => import('./commands/sync'),
  backfill: () => import('./commands/backfill'),
  verify: () => import('./commands/verify'),
  status: () => import('./commands/status'),
  schedule: () => import('./commands/schedule'),
  worker: () => import('./commands/worker'),
  cdc: () => import('./commands/cdc'),
};
type TemporalConfig = ReturnType<Awaited<ReturnType<typeof load.config>>['readTemporalConfig']>;
import { formatOwnLine } from '../core/log-line';

const out = (line: string) => process.stdout.write(line + '\n');
const err = (line: string) => process.stderr.write(line + '\n');

function positiveInt(name: string) {
  return (raw: string) => {
    try {
      return parsePositiveInt(name, raw);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

const CONFIG_HELP = 'per-table settings file (default: pg2ch.config.json or pg2ch.config.yaml here)';

/** The settings a table runs with, from the config file if there is one. */
async function tableSettings(configPath: string | undefined, table: string) {
  const [{ settingsFor }, { loadConfigFile }, { keyOf }] = await Promise.all([load.tableSettings(), load.configFile(), load.sync()]);
  return settingsFor(loadConfigFile(configPath), keyOf(table));
}

export function buildProgram(): Command {
  const program = new Command('pg2ch')
    .description('Durable PostgreSQL -> ClickHouse sync on Temporal')
    .exitOverride();

  program
    .command('worker')
    .description('run a worker: polls the task queue and runs syncs (Ctrl-C stops it gracefully)')
    .action(async () => {
      await (await load.worker()).runWorkerCommand(process.env, (line) => out(formatOwnLine(process.env.PG2CH_LOG_FORMAT, 'info', line)));
    });

  // Every command that talks to Temporal: connect, run, always close.
  const withTemporal = async (fn: (client: Client, t: TemporalConfig) => Promise<void>) => {
    const temporal = (await load.config()).readTemporalConfig(process.env);
    const client = await (await load.temporal()).connectTemporal(temporal);
    try {
      await fn(client, temporal);
    } finally {
      await client.connection.close();
    }
  };

  program
    .command('sync')
    .description('start the sync workflow sync:<table>, or join the one already running; --all: one per table of the config file')
    .argument('[table]', 'PostgreSQL table: table or schema.table')
    .option('--all', 'every table of the config file, one workflow each; one failing does not stop the others')
    .option('--once', 'wait until the table is caught up and print what was copied')
    .option('--chunk-rows <n>', 'rows per chunk (default 500000, at most 1000000)', positiveInt('--chunk-rows'))
    .option('--json', 'with --once: progress and the result as JSON lines on stdout')
    .option('--config <file>', CONFIG_HELP)
    .action(async (table: string | undefined, opts: { all?: boolean; once?: boolean; chunkRows?: number; json?: boolean; config?: string }) => {
      if (opts.all && table !== undefined) throw new ConfigError('give a table or --all, not both');
      if (!opts.all && table === undefined) throw new ConfigError('name the table to sync (table or schema.table), or give --all for every table of the config file');
      const [{ loadConfigFile }, { settingsFor }, { progressMode }, { formatResult, keyOf, resultJson, startSync, syncAll }] = await Promise.all([
        load.configFile(),
        load.tableSettings(),
        load.progress(),
        load.sync(),
      ]);
      const config = loadConfigFile(opts.config);
      return withTemporal(async (client, temporal) => {
        const info = opts.json ? err : out;
        if (opts.all) {
          const report = (o: TableOutcome) => {
            if (opts.json) out('error' in o ? JSON.stringify({ type: 'error', ...o }) : resultJson(o.result));
            else out('error' in o ? `failed ${o.table}: ${o.error}` : formatResult(o.result));
          };
          const outcomes = await syncAll(client, temporal, config, { once: !!opts.once, chunkRows: opts.chunkRows }, report, info);
          if (outcomes.some((o) => 'error' in o)) process.exitCode = 1;
          return;
        }
        const progress = progressMode(opts);
        const settings = settingsFor(config, keyOf(table!));
        const result = await startSync(client, temporal, table!, { once: !!opts.once, chunkRows: opts.chunkRows, progress, settings }, out, info);
        if (result) out(opts.json ? resultJson(result) : formatResult(result));
      });
    });

  program
    .command('backfill')
    .description('copy a range of a table with parallel partitions (child workflows); the incremental sync waits, then skips what it copied')
    .argument('<table>', 'PostgreSQL table: table or schema.table')
    .option('--from-id <id>', 'first cursor value to copy (inclusive)')
    .option('--to-id <id>', 'last cursor value to copy (inclusive; default: the largest now)')
    .option('--since <iso>', 'copy rows whose time column is at or after this time (UTC unless the value says otherwise)')
    .option('--until <iso>', 'copy rows whose time column is before this time')
    .option('--time-column <name>', 'the column --since/--until select by (default created_at)')
    .option('--partitions <n>', `partitions, sized from PostgreSQL statistics (default ${DEFAULT_PARTITIONS})`, positiveInt('--partitions'))
    .option('--parallel <n>', `partitions copied at once (default ${DEFAULT_PARALLEL})`, positiveInt('--parallel'))
    .option('--chunk-rows <n>', 'rows per chunk (default 500000, at most 1000000)', positiveInt('--chunk-rows'))
    .option('--detach', 'start it and return; follow it with pg2ch status')
    .option('--json', 'progress and the result as JSON lines on stdout')
    .option('--config <file>', CONFIG_HELP)
    .action((table: string, o: BackfillOptions & { json?: boolean; config?: string }) =>
      withTemporal(async (client, temporal) => {
        const [{ formatBackfill, startBackfill }, { progressMode }] = await Promise.all([load.backfill(), load.progress()]);
        const info = o.json ? err : out;
        const { config, ...rest } = o;
        const result = await startBackfill(client, temporal, table, { ...rest, settings: await tableSettings(config, table), progress: progressMode(o) }, out, info);
        if (result) out(o.json ? JSON.stringify({ type: 'result', ...result }) : formatBackfill(result));
      }),
    );

  program
    .command('verify')
    .description('compare PostgreSQL and ClickHouse by id ranges: count, min/max id and a checksum of the row values')
    .argument('<table>', 'PostgreSQL table: table or schema.table')
    .option('--from-id <id>', 'first cursor value to compare (inclusive; default: the first)')
    .option('--to-id <id>', 'last cursor value to compare (inclusive; default: the last one synced)')
    .option('--repair', 'copy the rows ClickHouse lacks in each differing range, then compare those ranges again')
    .option('--json', 'progress and the result as JSON lines on stdout')
    .option('--config <file>', CONFIG_HELP)
    .action((table: string, o: { fromId?: string; toId?: string; repair?: boolean; json?: boolean; config?: string }) =>
      withTemporal(async (client, temporal) => {
        const [{ loadConfigFile }, { settingsFor }, { progressMode }, { keyOf }, { formatVerify, runVerify }] = await Promise.all([
          load.configFile(),
          load.tableSettings(),
          load.progress(),
          load.sync(),
          load.verify(),
        ]);
        // Without a config file the worker takes the settings the table was last synced with.
        const config = loadConfigFile(o.config);
        const settings = config ? settingsFor(config, keyOf(table)) : undefined;
        const result = await runVerify(client, temporal, table, { ...o, settings, progress: progressMode(o) }, out);
        out(o.json ? JSON.stringify({ type: 'result', ...result }) : formatVerify(result));
        // Scripts test the verdict by the exit code.
        if (!result.equal) process.exitCode = 1;
      }),
    );

  program
    .command('status')
    .description('watermark, last sync, lag behind PostgreSQL, running workflows and schedule of one table or all')
    .argument('[table]', 'PostgreSQL table: table or schema.table (default: every table synced so far)')
    .option('--json', 'machine-readable output')
    .option('--config <file>', CONFIG_HELP)
    .action((table: string | undefined, o: { json?: boolean; config?: string }) =>
      withTemporal(async (client, temporal) => {
        const [{ formatStatus, readStatusReport }, { loadConfigFile }] = await Promise.all([load.status(), load.configFile()]);
        const config = loadConfigFile(o.config);
        const reports = await readStatusReport(client, temporal, table, config);
        const only = reports[0];
        // A named table that was never synced and cannot be read is a mistake, not a status.
        if (table !== undefined && only?.error && only.lastSyncAt === null) throw new UserError(only.error, 'StatusFailed');
        out(o.json ? JSON.stringify(reports) : formatStatus(reports));
        // --json keeps its shape (an array of tables): pg2ch cdc status --json has the streams.
        if (!o.json && table === undefined) {
          for (const line of await (await load.cdc()).streamStatusLines(client, temporal, config, process.env)) out(line);
        }
      }),
    );
  const cdc = program.command('cdc').description("stream every insert, update and delete of the config file's mode cdc tables from PostgreSQL's logical replication");
  const streamOption = '--stream <name>';
  cdc
    .command('start')
    .description('create the publication and slot when missing, copy the tables once, then stream their changes (workflow cdc:<stream>)')
    .option(streamOption, 'only this stream (default: every stream of the config file)')
    .option('--config <file>', CONFIG_HELP)
    .action((o: { stream?: string; config?: string }) =>
      withTemporal(async (client, temporal) => {
        const [c, { loadConfigFile }] = await Promise.all([load.cdc(), load.configFile()]);
        await c.startCdc(client, temporal, loadConfigFile(o.config), { stream: o.stream }, out);
      }),
    );
  cdc
    .command('stop')
    .description('write what has committed, then stop reading; the slot keeps later changes')
    .option(streamOption, 'only this stream')
    .option('--config <file>', CONFIG_HELP)
    .action((o: { stream?: string; config?: string }) => withTemporal(async (client) => {
      const [c, { loadConfigFile }] = await Promise.all([load.cdc(), load.configFile()]);
      await c.stopCdc(client, loadConfigFile(o.config), o.stream, out);
    }));
  cdc
    .command('status')
    .description("per stream: the slot's confirmed LSN, WAL it retains, the checkpoint in ClickHouse, last batch, seconds behind; warns on an inactive slot or too much WAL (PG2CH_CDC_WAL_WARN_BYTES)")
    .option(streamOption, 'only this stream')
    .option('--json', 'machine-readable output')
    .option('--config <file>', CONFIG_HELP)
    .action((o: { stream?: string; json?: boolean; config?: string }) =>
      withTemporal(async (client, temporal) => {
        const [c, { loadConfigFile }] = await Promise.all([load.cdc(), load.configFile()]);
        const reports = await c.cdcStatusReport(client, temporal, loadConfigFile(o.config), o.stream, process.env);
        out(o.json ? JSON.stringify(reports) : c.formatCdcStatus(reports));
      }),
    );
  cdc
    .command('drop')
    .description('stop the stream and remove its replication slot and publication (ClickHouse tables are kept)')
    .option(streamOption, 'only this stream')
    .option('--config <file>', CONFIG_HELP)
    .action((o: { stream?: string; config?: string }) => withTemporal(async (client, temporal) => {
      const [c, { loadConfigFile }] = await Promise.all([load.cdc(), load.configFile()]);
      await c.dropCdc(client, temporal, loadConfigFile(o.config), o.stream, out);
    }));

  const schedule = program.command('schedule').description('run a table\'s sync on a cadence with Temporal Schedules');
  const cadenceOptions = (c: Command) =>
    c
      .option('--every <duration>', 'interval such as 30s, 5m, 1h')
      .option('--cron <expression>', 'five-field cron expression, UTC, such as "0 * * * *"')
      .option('--chunk-rows <n>', 'rows per chunk (default 500000, at most 1000000)', positiveInt('--chunk-rows'))
      .option('--catchup-window <duration>', 'how long a run missed while Temporal was down is still started (default 10m)')
      .option('--config <file>', `${CONFIG_HELP}; the schedule keeps the table's settings as they are now`);
  cadenceOptions(schedule.command('create').argument('<table>').option('--paused', 'create it paused'))
    .description('create the schedule sync:<table>; a run due while the previous one runs is skipped')
    .action((table: string, o: ScheduleSettings & { config?: string }) =>
      withTemporal(async (client, t) => {
        const { createSchedule, describeSchedule, formatSummary } = await load.schedule();
        await createSchedule(client, t, table, { ...o, settings: await tableSettings(o.config, table) });
        out(formatSummary(await describeSchedule(client, table)));
      }),
    );
  cadenceOptions(schedule.command('update').argument('<table>'))
    .description('change the cadence, chunk size or catch-up window')
    .action((table: string, o: ScheduleSettings & { config?: string }) =>
      withTemporal(async (client, t) => {
        const { updateSchedule, describeSchedule, formatSummary } = await load.schedule();
        await updateSchedule(client, t, table, { ...o, settings: await tableSettings(o.config, table) });
        out(formatSummary(await describeSchedule(client, table)));
      }),
    );
  for (const [name, paused] of [['pause', true], ['unpause', false]] as const) {
    schedule
      .command(name)
      .argument('<table>')
      .option('--note <text>', 'why, shown in describe and the Web UI')
      .description(paused ? 'stop starting runs (a running sync finishes)' : 'start runs again')
      .action((table: string, o: { note?: string }) =>
        withTemporal(async (client) => {
          await (await load.schedule()).pauseSchedule(client, table, paused, o.note);
          out(`schedule sync:${table} ${paused ? 'paused' : 'unpaused'}`);
        }),
      );
  }
  schedule
    .command('trigger')
    .argument('<table>')
    .description('start a run now (skipped if a sync of the table is running)')
    .action((table: string) =>
      withTemporal(async (client) => {
        await (await load.schedule()).triggerSchedule(client, table);
        out(`schedule sync:${table} triggered`);
      }),
    );
  schedule
    .command('describe')
    .argument('<table>')
    .option('--json', 'machine-readable output')
    .action((table: string, o: { json?: boolean }) =>
      withTemporal(async (client) => {
        const { describeSchedule, formatSummary } = await load.schedule();
        const s = await describeSchedule(client, table);
        out(o.json ? JSON.stringify(s) : formatSummary(s));
      }),
    );
  schedule
    .command('list')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      withTemporal(async (client) => {
        const all = await (await load.schedule()).listSchedules(client);
        if (o.json) out(JSON.stringify(all));
        else for (const s of all) out(`${s.scheduleId}${s.paused ? ' (paused)' : ''} next ${s.next ?? 'none'}`);
      }),
    );
  schedule
    .command('delete')
    .argument('<table>')
    .description('delete the schedule (runs already started finish)')
    .action((table: string) =>
      withTemporal(async (client) => {
        await (await load.schedule()).deleteSchedule(client, table);
        out(`schedule sync:${table} deleted`);
      }),
    );
  return program;
}

/** User errors are one line on stderr and exit code 1 (2 for usage); no stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    // A command that ran but found a problem (verify: a mismatch) set it.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError || err instanceof UserError) {
      process.stderr.write(formatOwnLine(process.env.PG2CH_LOG_FORMAT, 'error', `pg2ch: ${err.message}`) + '\n');
      return err instanceof ConfigError ? 2 : 1;
    }
    // A log shipper keeps the trace in one record; people read it as usual.
    const text = `pg2ch: unexpected error: ${(err as Error)?.stack ?? String(err)}`;
    process.stderr.write(formatOwnLine(process.env.PG2CH_LOG_FORMAT, 'error', text) + '\n');
    return 1;
  }
}

if (require.main === module || process.env.PG2CH_CLI_MAIN === '1') {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
