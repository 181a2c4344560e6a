// Types of build-stamp.cjs (plain JavaScript, read by bin/pg2ch.cjs before anything is compiled).
export declare const ROOT: string;
export declare const DIST: string;
export declare const WORKFLOWS_PATH: string;
export declare const CLI_SOURCES: string[];
export declare const WORKFLOW_SOURCES: string[];
export declare const CLI_STAMP: string;
export declare const WORKFLOW_BUNDLE: string;
export declare const WORKFLOW_STAMP: string;
export declare function sourceStamp(paths: string[], root?: string): string;
export declare function cliCurrent(root?: string): boolean;
export declare function workflowBundleCurrent(root?: string): boolean;
