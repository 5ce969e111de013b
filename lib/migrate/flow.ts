/**
 * Building an importable Node-RED flow: stable ids (the same file imports to the same ids,
 * so a re-import replaces rather than duplicates), one tab, rows of wired nodes.
 */
import { createHash } from "node:crypto";
import type { Job } from "../job/schema";

/** One node of a flow as Node-RED's import takes it. */
export interface NodeRedFlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  x?: number;
  y?: number;
  wires?: string[][];
  [key: string]: unknown;
}

export interface ImportResult {
  nodes: NodeRedFlowNode[];
  /** Everything not carried over or needing the user's attention, one sentence each. */
  warnings: string[];
}

export const TYPES = {
  profile: "highball-profile-config",
  job: "highball-backup-job",
  schedule: "highball-schedule-trigger",
  gate: "highball-conflict-gate",
  rsync: "highball-rsync-run",
  restic: "highball-restic-run",
  notify: "highball-notify",
} as const;

const COLUMN = { schedule: 160, job: 400, gate: 620, run: 840, notify: 1080 } as const;

export class FlowBuilder {
  readonly nodes: NodeRedFlowNode[] = [];
  readonly tab: NodeRedFlowNode;
  private row = 0;

  constructor(private readonly origin: string, label: string, info: string) {
    this.tab = { id: this.id("tab", label), type: "tab", label, disabled: false, info };
    this.nodes.push(this.tab);
  }

  /** 16 hex digits like Node-RED's own ids, derived from what the node stands for. */
  id(kind: string, name: string): string {
    return createHash("sha256").update(`${this.origin}\0${kind}\0${name}`).digest("hex").slice(0, 16);
  }

  /** A config node (no tab, no wires). */
  config(kind: string, name: string, fields: Record<string, unknown>): NodeRedFlowNode {
    const node: NodeRedFlowNode = { id: this.id(kind, name), type: fields.type as string, name, ...fields };
    this.nodes.push(node);
    return node;
  }

  /** Starts a new row; nodes placed with `place` land on it. */
  nextRow(): void {
    this.row++;
  }

  place(kind: keyof typeof COLUMN, idKind: string, name: string, fields: Record<string, unknown>, outputs = 1): NodeRedFlowNode {
    const node: NodeRedFlowNode = {
      id: this.id(idKind, name),
      z: this.tab.id,
      name,
      ...fields,
      type: fields.type as string,
      x: COLUMN[kind],
      y: 40 + this.row * 80,
      wires: Array.from({ length: outputs }, () => []),
    };
    this.nodes.push(node);
    return node;
  }

  /** A node shared by many rows (a notify node), placed once at the right. */
  shared(idKind: string, name: string, fields: Record<string, unknown>, outputs = 1): NodeRedFlowNode {
    const existing = this.nodes.find((n) => n.id === this.id(idKind, name));
    if (existing) return existing;
    const node: NodeRedFlowNode = {
      id: this.id(idKind, name), z: this.tab.id, name, ...fields, type: fields.type as string,
      x: COLUMN.notify, y: 40 + this.row * 80, wires: Array.from({ length: outputs }, () => []),
    };
    this.nodes.push(node);
    return node;
  }

  wire(from: NodeRedFlowNode, to: NodeRedFlowNode, output = 0): void {
    const wires = from.wires!;
    if (!wires[output]!.includes(to.id)) wires[output]!.push(to.id);
  }
}

/** A backup-job node: the job descriptor's fields as node properties (SPEC). */
export function jobNodeFields(job: Job): Record<string, unknown> {
  // A restic task of PRestic has its paths in its arguments: no source (and never a destination).
  return {
    type: TYPES.job,
    name: job.name,
    engine: job.engine,
    enabled: job.enabled ?? true,
    ...(job.source ? { source: job.source } : {}),
    ...(job.destination ? { destination: job.destination } : {}),
    profile: job.profile ?? "",
    rsync: { delete: false, checksum: false, compress: false, bwlimit: "", exclude: [], args: [], ...(job.rsync ?? {}) },
    restic: { command: "backup", args: [], tags: [], ...(job.restic ?? {}) },
    resources: job.resources ?? [],
    timeoutSeconds: job.timeoutSeconds ?? 0,
  };
}
