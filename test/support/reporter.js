"use strict";
// Mocha's spec reporter, plus a JSON summary that scripts/test.js adds up across runs.
const fs = require("node:fs");
const Mocha = require("mocha");
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class HighballReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.HIGHBALL_MOCHA_SUMMARY;
      // The failures' titles go along so the last lines of a long run name every one of them.
      const failed = this.failures.map((t) => `${t.fullTitle()}: ${String((t.err && t.err.message) || "").split("\n")[0].slice(0, 200)}`);
      if (file) fs.writeFileSync(file, JSON.stringify({ ...this.stats, failed }));
    });
  }
}
module.exports = HighballReporter;
