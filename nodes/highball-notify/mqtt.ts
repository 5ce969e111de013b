// The notify node's MQTT channel (lib/mqtt/channel.ts), wired to Node-RED: the node's second
// output, its context, and the runtime's flows:started and node-status events.
import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { MqttChannel, mqttEnabled, type MqttDef } from "../../lib/mqtt/channel";
import { engineOf } from "../shared/runtime";

/** The MQTT channel of one notify node, wired to Node-RED's events and the node's context. */
export function mqttOf(RED: NodeAPI, node: Node, def: MqttDef): { channel: MqttChannel; close(): void } | null {
  if (!mqttEnabled(def)) return null;
  const context = node.context();
  let remembered: unknown;
  try {
    remembered = context.get("mqtt");
  } catch {
    /* an unreadable context only means the jobs are learnt afresh */
  }
  const channel = new MqttChannel(def, remembered, engineOf(RED), {
    send: (list) => node.send([null, list.map((m) => ({ topic: m.topic, payload: m.payload, retain: m.retain, qos: m.qos }))] as unknown as NodeMessageInFlow[]),
    remember: (state) => { try { context.set("mqtt", state); } catch { /* see above */ } },
  });
  const started = () => channel.flowsStarted();
  const status = (e: { id?: string; status?: { fill?: string } }) => {
    const wires = (node as unknown as { wires?: string[][] }).wires ?? [];
    if (e?.id && (wires[1] ?? []).includes(e.id)) channel.outputStatus(e.id, e.status?.fill);
  };
  RED.events.on("flows:started", started);
  RED.events.on("node-status", status);
  return {
    channel,
    close() {
      channel.close();
      RED.events.removeListener("flows:started", started);
      RED.events.removeListener("node-status", status);
    },
  };
}
