#!/usr/bin/env node
/**
 * Finds import cycles among the TypeScript files of src/ that hold at run time: type-only imports
 * and exports (`import type`, `export type`, or every named binding marked `type`) are left out,
 * since they are erased. Dynamic `import()` calls count. Prints each cycle (a strongly connected
 * group of files) and exits 1 when there is one.
 *
 *   node scripts/import-cycles.cjs [dir]
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(process.argv[2] ?? 'src');

function tsFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function resolve(from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  }
  return null;
}

/** Whether an import or export declaration brings a value (is kept after type erasure). */
function isValue(node) {
  if (ts.isImportDeclaration(node)) {
    const c = node.importClause;
    if (!c) return true; // a side-effect import
    if (c.isTypeOnly) return false;
    if (c.name) return true;
    const b = c.namedBindings;
    if (!b) return false;
    if (ts.isNamespaceImport(b)) return true;
    return b.elements.some((e) => !e.isTypeOnly);
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return false;
    const c = node.exportClause;
    if (!c || ts.isNamespaceExport(c)) return true;
    return c.elements.some((e) => !e.isTypeOnly);
  }
  return true;
}

function valueImports(file) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const deps = new Set();
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const to = isValue(node) ? resolve(file, node.moduleSpecifier.text) : null;
      if (to) deps.add(to);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      const to = arg && ts.isStringLiteral(arg) ? resolve(file, arg.text) : null;
      if (to) deps.add(to);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return [...deps];
}

/** Tarjan's strongly connected components; those with more than one file (or a self-import) are cycles. */
function cycles(graph) {
  let index = 0;
  const idx = new Map(), low = new Map(), onStack = new Set(), stack = [], out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

const graph = new Map(tsFiles(root).map((f) => [f, valueImports(f)]));
const found = cycles(graph);
const rel = (f) => path.relative(process.cwd(), f);
for (const comp of found) {
  console.log(`cycle among ${comp.length} files:`);
  for (const f of comp) console.log(`  ${rel(f)} -> ${graph.get(f).filter((d) => comp.includes(d)).map(rel).join(', ')}`);
}
console.log(found.length === 0 ? `no value import cycles in ${rel(root)} (${graph.size} files)` : `${found.length} cycle(s)`);
process.exit(found.length === 0 ? 0 : 1);
