"use strict";
// The demo's flows, with paths inside the checkout's .demo/ folder. The same shape as
// examples/rsync-local.json, so what a user sees first is what they would import.

function demoFlows(data) {
  const tab = "hb-demo";
  return [
    { id: tab, type: "tab", label: "Highball demo", info: "Backs up .demo/data/photos with rsync. Press the inject button, or wait for the schedule.\nOpen a node's help (book icon) to see what it does." },
    { id: "hb-demo-note", type: "comment", z: tab, name: "rsync: local → local, every hour and on demand", info: "", x: 230, y: 40, wires: [] },
    { id: "hb-demo-inject", type: "inject", z: tab, name: "run now", props: [{ p: "payload" }], repeat: "", crontab: "", once: false, topic: "", payload: "", payloadType: "date", x: 130, y: 100, wires: [["hb-demo-job"]] },
    { id: "hb-demo-schedule", type: "highball-schedule-trigger", z: tab, name: "hourly", schedule: "hourly", timezone: "", missed: "startup", missedHours: 6, passthrough: false, x: 130, y: 160, wires: [["hb-demo-job"], []] },
    {
      id: "hb-demo-job", type: "highball-backup-job", z: tab, name: "demo photos", engine: "rsync", enabled: true,
      source: { type: "local", paths: [{ path: `${data}/photos`, include: [], exclude: ["cache/"] }] },
      destination: { type: "local", path: `${data}/backups/photos` },
      profile: "", rsync: { delete: true, checksum: false, compress: false, bwlimit: "", exclude: [], args: [] },
      restic: { command: "backup", args: [], tags: [] }, resources: [], timeoutSeconds: 3600,
      x: 340, y: 130, wires: [["hb-demo-rsync"]],
    },
    { id: "hb-demo-rsync", type: "highball-rsync-run", z: tab, name: "rsync", job: "", args: "", bwlimit: "", logTail: 20, x: 530, y: 130, wires: [["hb-demo-notify", "hb-demo-result"], ["hb-demo-progress"]] },
    { id: "hb-demo-notify", type: "highball-notify", z: tab, name: "notify (output only)", onFailure: true, onWarning: true, onDelay: true, onInterrupted: true, onSuccess: true, onCancelled: false, windowSeconds: 60, burst: 3, staleHours: 0, logLines: 20, chatId: "", parseMode: "HTML", apiRoot: "", smtpHost: "", smtpPort: "", smtpSecurity: "starttls", smtpFrom: "", smtpTo: "", allowSelfSigned: false, subjectTemplate: "", bodyTemplate: "", telegramTemplate: "", logLink: "", x: 730, y: 100, wires: [["hb-demo-alert"]] },
    { id: "hb-demo-alert", type: "debug", z: tab, name: "alert text", active: true, tosidebar: true, console: false, complete: "payload", targetType: "msg", x: 920, y: 100, wires: [] },
    { id: "hb-demo-result", type: "debug", z: tab, name: "result", active: true, tosidebar: true, console: false, complete: "payload", targetType: "msg", x: 720, y: 160, wires: [] },
    { id: "hb-demo-progress", type: "debug", z: tab, name: "progress", active: false, tosidebar: true, console: false, complete: "payload", targetType: "msg", x: 720, y: 200, wires: [] },

    { id: "hb-demo-note2", type: "comment", z: tab, name: "restic: the same photos into a local repository, daily and on demand", info: "", x: 270, y: 260, wires: [] },
    { id: "hb-demo-profile", type: "highball-profile-config", name: "demo-repo", options: { repository: `${data}/restic-repo`, "password-file": `${data}/restic-password`, "cache-dir": `${data}/restic-cache`, "cpu-priority": "low", "prune-logs-after": "30" } },
    { id: "hb-demo-inject2", type: "inject", z: tab, name: "run now", props: [{ p: "payload" }], repeat: "", crontab: "", once: false, topic: "", payload: "", payloadType: "date", x: 130, y: 320, wires: [["hb-demo-rjob"]] },
    { id: "hb-demo-schedule2", type: "highball-schedule-trigger", z: tab, name: "daily at 03:00", schedule: "daily at 03:00", timezone: "", missed: "within", missedHours: 12, passthrough: false, x: 150, y: 380, wires: [["hb-demo-rjob"], []] },
    {
      id: "hb-demo-rjob", type: "highball-backup-job", z: tab, name: "demo photos (restic)", engine: "restic", enabled: true,
      source: { type: "local", paths: [{ path: `${data}/photos`, include: [], exclude: ["cache/"] }] },
      destination: { type: "local", path: "" }, profile: "hb-demo-profile",
      rsync: { delete: false, checksum: false, compress: false, bwlimit: "", exclude: [], args: [] },
      restic: { command: "backup", args: [], tags: ["demo"] }, resources: [], timeoutSeconds: 3600,
      x: 370, y: 350, wires: [["hb-demo-restic"]],
    },
    { id: "hb-demo-restic", type: "highball-restic-run", z: tab, name: "restic", profile: "hb-demo-profile", command: "", args: "", keepLast: "", keepHourly: "", keepDaily: "", keepWeekly: "", keepMonthly: "", keepYearly: "", keepWithin: "", readDataSubset: "", copyTo: "", logTail: 20, x: 570, y: 350, wires: [["hb-demo-notify", "hb-demo-result2"], []] },
    { id: "hb-demo-result2", type: "debug", z: tab, name: "restic result", active: true, tosidebar: true, console: false, complete: "payload", targetType: "msg", x: 840, y: 350, wires: [] },
  ];
}

module.exports = { demoFlows };
