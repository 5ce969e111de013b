// Telegram and email notifications for backup results: policy, batching, staleness, delivery.
export { Notifier, sendTest, validateConfig } from "./notifier";
export type { FailureEvent, NotifierEvents, NotifierOptions, TestResult } from "./notifier";
export { ManualClock, systemClock } from "./clock";
export type { Clock } from "./clock";
export {
  DEFAULT_BODY, DEFAULT_SUBJECT, DEFAULT_TELEGRAM_HTML, DEFAULT_TELEGRAM_MARKDOWN, PLACEHOLDERS,
  parseInput, renderSingle, shortText,
} from "./message";
export { escapeHtml, escapeMarkdownV2, humanDuration, humanSize, renderTemplate } from "./format";
export * from "./types";
