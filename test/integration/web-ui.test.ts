import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, pgPool, services, temporalClient } from '../support/harness';

const CHROMIUM = process.env.PG2CH_CHROMIUM ?? '/usr/bin/chromium';
/** Kept after the run: CI keeps the screenshot of what a user sees. */
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

describe('the Temporal Web UI', () => {
  const table = 'webui_logs';
  const queue = 'it-webui';
  let pool: pg.Pool;
  let temporal: Client;
  let browser: BrowserContext | undefined;
  let profile: string;
  const procs: CliRun[] = [];

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: 5_000, table });
    temporal = await temporalClient();
    profile = mkdtempSync(join(tmpdir(), 'pg2ch-chromium-'));
  });

  afterAll(async () => {
    await browser?.close();
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
    await temporal?.connection.close();
    await pool?.end();
  });

  it("shows a sync's summary and progress on its workflow page", async () => {
    const env = envFor('server', 'it_webui', queue);
    const worker = runCli(['worker'], env);
    procs.push(worker);
    await waitForOutput(worker, new RegExp(`pg2ch worker on task queue ${queue}`));
    const sync = runCli(['sync', table, '--once', '--chunk-rows', '2000'], env);
    procs.push(sync);
    expect((await sync.exit).code, sync.stderr()).toBe(0);
    const { runId } = await temporal.workflow.getHandle(`sync:${table}`).describe();

    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 1000 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const url = `${services().temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(`sync:${table}`)}/${runId}/history`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    // The static summary and details set when the sync started, and the
    // current details it kept up to date, on the User Metadata tab. The UI
    // renders them (Markdown) in frames of their own, and renders the page in
    // steps, so a click before the tabs are live is lost: click and read
    // every frame until all three show.
    mkdirSync(ARTIFACTS, { recursive: true });
    const wanted = [
      /Incremental sync of webui_logs/,
      /Copies the rows of PostgreSQL table webui_logs past its watermark/,
      /sync of webui_logs: done[\s\S]*5,000 of ~5,000 \(100%\)/,
    ];
    const deadline = Date.now() + 60_000;
    let text = '';
    while (!wanted.every((w) => w.test(text))) {
      if (Date.now() > deadline) {
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-failure.png'), fullPage: true });
        throw new Error(`the User Metadata tab did not show the summary and details; the page had: ${text}`);
      }
      await page.getByText('User Metadata').first().click({ timeout: 5_000 }).catch(() => undefined);
      await page.waitForTimeout(500);
      text = (await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')))).join('\n');
    }
    const shot = join(ARTIFACTS, 'web-ui-sync.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    const body = await page.locator('body').innerText();
    expect(body).toContain('sync:webui_logs');
    expect(body).toContain('syncTable');
  });
});
