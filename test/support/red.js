"use strict";
// The test helper, bound to the Node-RED major chosen by NODE_RED_MAJOR (4 or 5).
// Node-RED 5 is installed under the npm alias "node-red-5".
const helper = require("node-red-node-test-helper");
const major = process.env.NODE_RED_MAJOR === "5" ? "5" : "4";
helper.init(require.resolve(major === "5" ? "node-red-5" : "node-red"));
helper.major = major;
module.exports = helper;
