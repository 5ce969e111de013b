// MQTT state and Home Assistant discovery for the notify node's MQTT channel (docs/mqtt.md).
// Pure: no broker connection here; the messages go to a core `mqtt out` node.
export {
  DEFAULT_BASE, DEFAULT_DISCOVERY_PREFIX, homeAssistantStatusTopic, instanceTopics, jobTopics, message, mqttSettings,
  runSlugOf, slug, topicProblem,
} from "./topics";
export type { InstanceTopics, JobTopics, MqttMessage, MqttSettings, MqttSettingsInput, Qos } from "./topics";
export { configTopic, deviceId, discoveryConfigs, discoveryMessages, removalMessages, STATES } from "./discovery";
export type { DiscoveryJob } from "./discovery";
export { MqttBridge, RESULT_FIELDS } from "./bridge";
export type { DeployedJob, JobState, KnownJob, LastResult, RunTarget } from "./bridge";
