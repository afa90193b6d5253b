'use strict';
// Command-line options of the benchmarks: --help prints the usage from the script's header
// comment; an unknown or malformed option prints the error and that usage, and exits 2.
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

function headerUsage(file) {
  const out = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
    if (/^'use strict'/.test(line)) continue;
    const m = /^\s*(?:\/\/|\/\*+|\*\/?)\s?(.*)$/.exec(line);
    if (!m) break;
    out.push(m[1]);
  }
  return out.join('\n').trim();
}

/** parseArgs' values for `options` (node:util's format), with --help / -h. */
function benchArgs(file, options) {
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    console.error(`${path.basename(file)}: ${e.message}\n\n${headerUsage(file)}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(headerUsage(file));
    process.exit(0);
  }
  return values;
}

module.exports = { benchArgs };
