#!/usr/bin/env node
'use strict';
// `dmasim ... | head` closes stdout early: stop quietly instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
require('../dist/main.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // Only library bugs reach here; user errors are reported by main() itself.
      console.error(`dmasim: internal error: ${err && err.stack ? err.stack : err}`);
      process.exitCode = 70;
    },
  );
