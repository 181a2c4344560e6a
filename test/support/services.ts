import type {} from 'vitest';
/** What the global setup started, handed to every test file through vitest's provide/inject. */
export interface TestServices {
  pgUrl: string;
  clickhouseUrl: string;
  temporalAddress: string;
  temporalUiUrl: string;
  workflowBundlePath: string;
  workDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: TestServices;
  }
}
