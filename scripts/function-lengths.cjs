#!/usr/bin/env node
/**
 * Lists the longest functions in src/ (every function, method, arrow function and accessor, by
 * lines from its first to its last line, nested functions included in their parent's count).
 *
 *   node scripts/function-lengths.cjs [--top N] [--max LINES] [dir]
 *
 * With --max, exits 1 when a function is longer than LINES.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

function parseArgs(argv) {
  const o = { top: 15, max: undefined, dir: 'src' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') o.top = Number(argv[++i]);
    else if (argv[i] === '--max') o.max = Number(argv[++i]);
    else o.dir = argv[i];
  }
  return o;
}

function tsFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (/\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function nameOf(node, sf) {
  if (node.name) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf);
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (p && ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  return '<anonymous>';
}

function functionsOf(file) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      found.push({ file, line: first, name: nameOf(node, sf), lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const opts = parseArgs(process.argv.slice(2));
const all = tsFiles(opts.dir).flatMap(functionsOf).sort((a, b) => b.lines - a.lines);
for (const f of all.slice(0, opts.top)) console.log(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}`);
if (opts.max !== undefined) {
  const over = all.filter((f) => f.lines > opts.max);
  if (over.length > 0) {
    console.error(`${over.length} function(s) longer than ${opts.max} lines`);
    process.exit(1);
  }
}
