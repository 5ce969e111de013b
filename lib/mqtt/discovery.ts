// Home Assistant MQTT discovery: one device per backup job, with a status, a last-success and a
// duration sensor and a "run now" button. Configs are retained, so Home Assistant finds them
// whenever it starts; an empty retained config removes the entity.
// https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery
import { instanceTopics, jobTopics, message, slug, type MqttMessage, type MqttSettings } from "./topics";

/** What discovery needs to know of a job. */
export interface DiscoveryJob {
  /** The key its history lives under: the backup-job node's id, or the job's name. */
  jobId: string;
  name: string;
  /** Its topic level (see MqttBridge: unique per instance). */
  slug: string;
  engine?: string;
  /** A deployed backup-job node can be triggered, so it gets a "run now" button. */
  runnable: boolean;
}

/** Every state the state topic can hold. */
export const STATES = ["success", "warning", "failed", "cancelled", "interrupted", "running", "delayed"] as const;

const ORIGIN_URL = "https://github.com/highball-backup/node-red-backup";

type Entity = "status" | "last_success" | "duration" | "run" | "stale";
const ENTITIES: readonly Entity[] = ["status", "last_success", "duration", "run", "stale"];

/** Home Assistant's id for the job's device; entity ids add a suffix. Stable across renames. */
export function deviceId(s: MqttSettings, jobId: string): string {
  return `highball_${slug(s.instance, "_")}_${slug(jobId, "_")}`;
}

/** The config topic of one entity: `<prefix>/<component>/<unique id>/config`. */
export function configTopic(s: MqttSettings, job: Pick<DiscoveryJob, "jobId">, entity: Entity): string {
  const component = entity === "run" ? "button" : entity === "stale" ? "binary_sensor" : "sensor";
  return `${s.discoveryPrefix}/${component}/${deviceId(s, job.jobId)}_${entity}/config`;
}

function common(s: MqttSettings, job: DiscoveryJob): Record<string, unknown> {
  const t = jobTopics(s, job.slug);
  return {
    availability: [{ topic: instanceTopics(s).availability }, { topic: t.availability }],
    availability_mode: "all",
    payload_available: "online",
    payload_not_available: "offline",
    device: {
      identifiers: [deviceId(s, job.jobId)],
      name: `Backup ${job.name}`,
      manufacturer: "Highball for Node-RED",
      model: `${job.engine ?? "backup"} job`,
      sw_version: s.version,
    },
    origin: { name: "Highball for Node-RED", sw_version: s.version, support_url: ORIGIN_URL },
  };
}

/** The entities' configs, as Home Assistant reads them. */
export function discoveryConfigs(s: MqttSettings, job: DiscoveryJob): Array<{ entity: Entity; topic: string; config: Record<string, unknown> | null }> {
  const t = jobTopics(s, job.slug);
  const id = deviceId(s, job.jobId);
  const base = common(s, job);
  return [
    {
      entity: "status",
      topic: configTopic(s, job, "status"),
      config: {
        name: "Status",
        unique_id: `${id}_status`,
        state_topic: t.state,
        json_attributes_topic: t.last,
        device_class: "enum",
        options: [...STATES],
        icon: "mdi:backup-restore",
        ...base,
      },
    },
    {
      entity: "last_success",
      topic: configTopic(s, job, "last_success"),
      config: {
        name: "Last success",
        unique_id: `${id}_last_success`,
        state_topic: t.lastSuccess,
        device_class: "timestamp",
        icon: "mdi:calendar-check",
        ...base,
      },
    },
    {
      entity: "duration",
      topic: configTopic(s, job, "duration"),
      config: {
        name: "Duration",
        unique_id: `${id}_duration`,
        state_topic: t.duration,
        device_class: "duration",
        unit_of_measurement: "s",
        state_class: "measurement",
        icon: "mdi:timer-outline",
        ...base,
      },
    },
    {
      entity: "run",
      topic: configTopic(s, job, "run"),
      // A job with no backup-job node (sent straight to a run node) has nothing to trigger.
      config: job.runnable
        ? {
          name: "Run now",
          unique_id: `${id}_run`,
          command_topic: t.run,
          payload_press: "PRESS",
          icon: "mdi:play",
          ...base,
        }
        : null,
    },
    {
      entity: "stale",
      topic: configTopic(s, job, "stale"),
      // ON: no successful backup within the notify node's stale limit. No limit, no sensor.
      config: s.staleMs > 0
        ? {
          name: "Stale",
          unique_id: `${id}_stale`,
          state_topic: t.stale,
          payload_on: "ON",
          payload_off: "OFF",
          device_class: "problem",
          icon: "mdi:clock-alert-outline",
          ...base,
        }
        : null,
    },
  ];
}

/** Retained discovery messages; a job that cannot be run gets its button removed. */
export function discoveryMessages(s: MqttSettings, job: DiscoveryJob): MqttMessage[] {
  if (!s.discoveryPrefix) return [];
  return discoveryConfigs(s, job).map((c) => message(s, c.topic, c.config ? JSON.stringify(c.config) : ""));
}

/** Empty retained configs: Home Assistant removes the job's entities (and then its device). */
export function removalMessages(s: MqttSettings, job: Pick<DiscoveryJob, "jobId">): MqttMessage[] {
  if (!s.discoveryPrefix) return [];
  return ENTITIES.map((e) => message(s, configTopic(s, job, e), ""));
}
