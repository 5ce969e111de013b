/**
 * The job descriptor: one JSON schema for the editor, the runtime (`msg.job`), HTTP/MQTT
 * triggers and the YAML/INI imports. Field names are part of the public contract (SPEC.md).
 */
export const HOST_PATTERN = "^(?!-)[A-Za-z0-9._-]{1,253}$|^\\[[0-9A-Fa-f:.]+\\]$";
export const USER_PATTERN = "^(?!-)[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}$";
export const MODULE_PATTERN = "^(?!-)[A-Za-z0-9._+-]{1,128}$";
export const BWLIMIT_PATTERN = "^([0-9]+(\\.[0-9]+)?[KMGkmg]?)?$";

const pattern = { type: "string", maxLength: 1024 } as const;

const pathEntry = {
  type: "object",
  additionalProperties: false,
  required: ["path"],
  properties: {
    path: { type: "string", minLength: 1, maxLength: 4096 },
    include: { type: "array", items: pattern, maxItems: 200 },
    exclude: { type: "array", items: pattern, maxItems: 200 },
  },
} as const;

/** One hook: an argument array (never a shell string), where it runs, its limit, and what its failure means. */
const hook = {
  type: "object",
  additionalProperties: false,
  required: ["run"],
  properties: {
    run: { type: "array", minItems: 1, maxItems: 200, items: { type: "string", maxLength: 4096 } },
    on: { enum: ["local", "source"] },
    timeoutSeconds: { type: "integer", minimum: 0, maximum: 7 * 24 * 3600 },
    onError: { enum: ["fail", "ignore"] },
  },
} as const;
const hookList = { type: "array", items: hook, maxItems: 20 } as const;

export const jobSchema = {
  $id: "https://highball.dev/schemas/job.json",
  type: "object",
  required: ["name", "engine"],
  additionalProperties: true,
  properties: {
    id: { type: "string", maxLength: 200 },
    name: { type: "string", minLength: 1, maxLength: 200 },
    engine: { enum: ["rsync", "restic"] },
    enabled: { type: "boolean" },
    source: {
      type: "object",
      additionalProperties: false,
      properties: {
        type: { enum: ["local", "ssh"] },
        host: { type: "string", maxLength: 255 },
        port: { type: "integer", minimum: 0, maximum: 65535 },
        user: { type: "string", maxLength: 64 },
        identityFile: { type: "string", maxLength: 4096 },
        acceptNewHostKey: { type: "boolean" },
        paths: { type: "array", minItems: 1, maxItems: 100, items: pathEntry },
      },
    },
    destination: {
      type: "object",
      additionalProperties: false,
      properties: {
        type: { enum: ["local", "ssh", "rsyncd"] },
        host: { type: "string", maxLength: 255 },
        port: { type: "integer", minimum: 0, maximum: 65535 },
        user: { type: "string", maxLength: 64 },
        module: { type: "string", maxLength: 128 },
        path: { type: "string", maxLength: 4096 },
        identityFile: { type: "string", maxLength: 4096 },
        acceptNewHostKey: { type: "boolean" },
      },
    },
    profile: { type: "string", maxLength: 200 },
    rsync: {
      type: "object",
      additionalProperties: false,
      properties: {
        delete: { type: "boolean" },
        checksum: { type: "boolean" },
        compress: { type: "boolean" },
        bwlimit: { type: "string", pattern: BWLIMIT_PATTERN },
        exclude: { type: "array", items: pattern, maxItems: 200 },
        args: { type: "array", items: { type: "string", maxLength: 4096 }, maxItems: 100 },
      },
    },
    restic: {
      type: "object",
      additionalProperties: false,
      properties: {
        command: { type: "string", maxLength: 64 },
        args: { type: "array", items: { type: "string", maxLength: 4096 }, maxItems: 200 },
        tags: { type: "array", items: { type: "string", maxLength: 200 }, maxItems: 50 },
        copyTo: { type: "string", maxLength: 200 },
      },
    },
    resources: { type: "array", items: { type: "string", maxLength: 200 }, maxItems: 50 },
    timeoutSeconds: { type: "integer", minimum: 0, maximum: 7 * 24 * 3600 },
    hooks: {
      type: "object",
      additionalProperties: false,
      properties: { before: hookList, success: hookList, failure: hookList, finally: hookList },
    },
  },
} as const;

export type SourceType = "local" | "ssh";
export type DestinationType = "local" | "ssh" | "rsyncd";

export interface PathEntry { path: string; include?: string[]; exclude?: string[] }

export interface JobSource {
  type?: SourceType;
  host?: string;
  port?: number;
  user?: string;
  identityFile?: string;
  acceptNewHostKey?: boolean;
  paths?: PathEntry[];
}

export interface JobDestination {
  type?: DestinationType;
  host?: string;
  port?: number;
  user?: string;
  module?: string;
  path?: string;
  /** For ssh→ssh: the key on the source host that reaches the destination. */
  identityFile?: string;
  acceptNewHostKey?: boolean;
}

export interface Job {
  id?: string;
  name: string;
  engine: "rsync" | "restic";
  enabled?: boolean;
  source?: JobSource;
  destination?: JobDestination;
  profile?: string;
  rsync?: { delete?: boolean; checksum?: boolean; compress?: boolean; bwlimit?: string; exclude?: string[]; args?: string[] };
  /** copyTo: the profile (name or id) whose repository receives `restic copy`'s snapshots. */
  restic?: { command?: string; args?: string[]; tags?: string[]; copyTo?: string };
  resources?: string[];
  timeoutSeconds?: number;
  hooks?: JobHooks;
}

export type HookWhen = "before" | "success" | "failure" | "finally";
export const HOOK_WHEN: readonly HookWhen[] = ["before", "success", "failure", "finally"];

/** A command run before or after the backup (SPEC "Hooks"). */
export interface Hook {
  run: string[];
  on?: "local" | "source";
  timeoutSeconds?: number;
  onError?: "fail" | "ignore";
}

export type JobHooks = Partial<Record<HookWhen, Hook[]>>;
