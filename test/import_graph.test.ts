// The import graph of the shipped TypeScript modules, read from the sources with the TypeScript parser:
// layers import one way (engine < kernels < nn < yopo < the package entries < web < bench < cli; a
// module imports its own layer or one below), nothing outside test/ imports test/, and no modules
// import one another in a cycle. A cycle counts runtime imports only: `import type` is erased, so a
// type-only loop (Tensor and Backend name each other) has no load order to get wrong.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The layers, lowest first: each top-level folder or file of the package and its rank. */
const LAYERS: readonly (readonly string[])[] = [
  ['engine'],
  ['kernels'],
  ['nn'],
  ['yopo'],
  ['index.ts', 'browser.ts'],
  ['web'],
  ['bench'],
  ['cli'],
];

/** The rank of a repository path's layer; null for a path outside the layers (test/, scripts/). */
function layerOf(path: string): number | null {
  const top = path.split('/')[0];
  const rank = LAYERS.findIndex((names) => names.includes(top));
  return rank < 0 ? null : rank;
}

interface Edge {
  from: string;
  to: string;
  /** `import type` / `export type`: erased from the compiled module. */
  typeOnly: boolean;
}

/** The relative imports of one module (static, re-exports, import() with a literal, import('...') types). */
function importsOf(path: string, source: string): Edge[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    if (!specifier.startsWith('.')) return;
    const to = posix.normalize(posix.join(posix.dirname(path), specifier)).replace(/\.js$/, '.ts');
    edges.push({ from: path, to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, isTypeOnlyImport(node.importClause));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return edges;
}

/** `import type {…}`, or `import {type a, type b}` with every name a type. */
function isTypeOnlyImport(clause: ts.ImportClause | undefined): boolean {
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return (
    !clause.name &&
    named !== undefined &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

/** Every shipped .ts module (the layers' folders and files), as repository paths. */
function shippedModules(): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    if (statSync(join(repoRoot, path)).isDirectory())
      readdirSync(join(repoRoot, path)).forEach((name) => walk(posix.join(path, name)));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) found.push(path);
  };
  LAYERS.flat().forEach(walk);
  return found.sort();
}

/** One line per import of test/ or of a layer above the importer's. */
function layerViolations(edges: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const { from, to } of edges) {
    const [fromRank, toRank] = [layerOf(from), layerOf(to)];
    if (to.startsWith('test/')) bad.push(`${from} imports ${to} (nothing outside test/ imports test/)`);
    else if (fromRank !== null && (toRank === null || toRank > fromRank))
      bad.push(`${from} imports ${to}, a layer above its own`);
  }
  return bad;
}

/** The cycles of the runtime imports: each strongly connected group of two or more modules, or a module importing itself. */
function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  // Tarjan's algorithm: a group is found when the search returns to the module it entered by.
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    order.set(v, order.size);
    low.set(v, order.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) !== order.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || next.get(v)?.includes(v)) groups.push(group.sort());
  };
  for (const v of next.keys()) if (!order.has(v)) visit(v);
  return groups;
}

const modules = shippedModules();
const edges = modules.flatMap((path) => importsOf(path, readFileSync(join(repoRoot, path), 'utf8')));

test('the checks catch a cycle, an upward import and an import of test/ (a synthetic graph)', () => {
  const synthetic = [
    ...importsOf('engine/a.ts', `import { b } from './b.js';\nimport type { K } from '../kernels/k.js';`),
    ...importsOf('engine/b.ts', `export * from './c.js';`),
    ...importsOf('engine/c.ts', `const a = await import('./a.js');\nimport type { T } from './t.js';`),
    ...importsOf('engine/t.ts', `import type { C } from './c.js';`),
    ...importsOf('web/w.ts', `import { check } from '../test/checks/check.js';\nimport { e } from '../engine/a.js';`),
  ];
  assert.equal(
    cycles(synthetic),
    [['engine/a.ts', 'engine/b.ts', 'engine/c.ts']],
    'the runtime cycle a → b → c → a, and not the type-only c ⇄ t',
  );
  assert.equal(layerViolations(synthetic), [
    'engine/a.ts imports kernels/k.ts, a layer above its own',
    'web/w.ts imports test/checks/check.ts (nothing outside test/ imports test/)',
  ]);
});

test('the walker reads the shipped modules', () => {
  assert.ok(modules.length > 150, `only ${modules.length} modules found under ${LAYERS.flat().join(', ')}`);
  assert.ok(edges.length > 3 * modules.length, `only ${edges.length} imports found in ${modules.length} modules`);
  const missing = edges
    .filter((e) => !modules.includes(e.to) && layerOf(e.to) !== null)
    .map((e) => `${e.from} imports ${e.to}, which does not exist`);
  assert.equal(missing, [], missing.join('\n'));
});

test('no shipped module imports test/ or a layer above its own', () => {
  const bad = layerViolations(edges);
  assert.equal(bad, [], `layers: ${LAYERS.map((names) => names.join(' ')).join(' < ')}\n${bad.join('\n')}`);
});

test('the shipped modules import one another without a cycle', () => {
  const found = cycles(edges);
  assert.equal(found, [], found.map((group) => `a cycle of ${group.length} modules: ${group.join(', ')}`).join('\n'));
});

test.run();
