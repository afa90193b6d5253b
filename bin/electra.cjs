#!/usr/bin/env node
'use strict';
// The `electra` CLI: built TypeScript in dist/ (npm install / npm run build make it).
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'cli.cjs');
if (!fs.existsSync(cli)) {
  process.stderr.write('electra: dist/cli.cjs is missing; run `npm run build` (npm install does it)\n');
  process.exit(1);
}
require(cli).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`electra: ${err && err.code ? err.code + ': ' : ''}${err && err.message ? err.message : err}\n`);
    process.exitCode = 1;
  },
);
