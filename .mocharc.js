"use strict";
module.exports = {
  reporter: require.resolve("./test/support/reporter.js"),
  timeout: 60000,
  slow: 5000,
  exit: true,
  require: [require.resolve("./test/support/setup.js")],
};
