'use strict';
/*
 * The named tasks of the matrix's process-pool scenarios, in JavaScript:
 * the module whose exports runner.js submits to an xf.ProcessPool by path
 * and export name (README.md, "Process pools").
 */
const fs = require('fs');

exports.add = (a, b) => a + b;

exports.fail = (message) => {
  const e = new Error(message);
  e.name = 'ValueError';
  throw e;
};

exports.pid = () => process.pid;

// Tell the worker's pid through the FIFO ready, then wait until the runner
// writes to the FIFO go and closes it.
exports.block = (ready, go) => {
  fs.writeFileSync(ready, String(process.pid));
  fs.readFileSync(go);
  return 0;
};
