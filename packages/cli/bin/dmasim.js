#!/usr/bin/env node
'use strict';
require('../dist/main.js').main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // Only library bugs reach here; user errors are reported by main() itself.
    console.error(`dmasim: internal error: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 70;
  },
);
