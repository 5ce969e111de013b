"use strict";
// Loaded before every test file: fail loudly on unhandled rejections, which would
// otherwise let a broken async path pass silently.
process.on("unhandledRejection", (err) => { throw err; });
