// Checks that imports in src/ point one way and form no cycle; `npm test` runs it.
//
// A small script rather than dependency-cruiser: the rules are one ordered list below, the TypeScript
// parser we already depend on reads every import form (type-only ones included, since they couple
// modules just as much), and it adds no dependency tree to the project.
//
// Rules, each violation one line:
// - No import cycle between modules (files), anywhere in src/.
// - A module may import its own folder, a unit in a lower row of LAYERS, or a leaf; never upward or
//   sideways, so no two folders import each other.
// - Leaves (LEAVES) import nothing from src/; anyone may import them.
// - dev-idp/ stands apart: it imports only leaves, and only DEV_IDP_IMPORTERS (and tests) import it.
// - Some packages belong to one side (PACKAGES): the HTTP framework to web/, the OP to dev-idp/.
// - Test files (*.test.ts) are exempt from direction: they may reach into any layer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Units (folders or top-level files of src/), highest first. */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli', 'index.ts'],
  ['server.ts'],
  ['web'],
  ['admin'],
  ['scim'], // SCIM resources mapped onto accounts/ (users, groups) and sessions/ (deprovisioning ends them); no SQL of its own
  ['rp'], // rp may import sessions (it ends them on logout), never the reverse
  ['provisioning'],
  ['sessions'],
  ['mail'], // mail resolves reset requests into accounts' users and audits what it sends and gives up
  ['audit'],
  ['accounts'],
  ['mfa'], // second factors: their own tables only, so below every owner that web/ and admin/ combine them with
  ['db'],
  ['config'],
];

/** Modules that import nothing from src/, so every layer and dev-idp/ may use them. */
export const LEAVES: readonly string[] = [
  'errors.ts',
  'digest.ts', // sha256Base64url
  'sealed.ts', // sealer(): secrets kept in the database, sealed under a key from a server secret
  'dpop-proof.ts', // verifyDpopProof(): RFC 9449 proofs, for our API and the development provider
  'dev-client.ts', // the development client's id and secret: config/ defaults to them, dev-idp/ registers them
  'optional-packages.ts', // tells a missing oidc-provider or pg apart, for db/ and dev-idp/
  'tracing.ts', // OpenTelemetry spans through @opentelemetry/api: the callback, provider calls, statements, password hashes
  'node-version.ts', // imported first by each entry point: a Node older than "engines" fails there, in one line
];

const DEV_IDP = 'dev-idp';
const DEV_IDP_IMPORTERS: readonly string[] = ['cli', 'index.ts', 'server.ts', 'web']; // web: the plugin's devIdp option

const HTTP_SIDE = ['web', 'server.ts', 'cli', 'index.ts'];
/** Package name (or scope prefix ending in /) -> the only units that may import it. */
export const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  'fastify': HTTP_SIDE,
  'fastify-plugin': HTTP_SIDE,
  '@fastify/': HTTP_SIDE,
  'oidc-provider': [DEV_IDP],
  'pg': ['db'], // loaded through db/pg.ts, since it is an optional peer dependency
  'openid-client': ['rp'],
  'nodemailer': ['mail'],
  'scim2-parse-filter': ['scim'],
  'prom-client': ['web'], // metrics are collected and served by web/metrics/
};

const RANK = new Map(LAYERS.flatMap((row, index) => row.map((unit) => [unit, index] as const)));

interface Edge { from: string; to: string; specifier: string }

/** The unit of a path relative to src/: its first folder, or the file itself at the top. */
function unitOf(path: string): string {
  const slash = path.indexOf('/');
  return slash === -1 ? path : path.slice(0, slash);
}

const isTest = (path: string): boolean => path.endsWith('.test.ts');

function sourceFiles(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full, root);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative(root, full)] : [];
  });
}

/** Every module specifier of a file: static, type-only, re-export, dynamic import() and import types. */
function specifiers(file: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [first] = node.arguments;
      if (first && ts.isStringLiteralLike(first)) found.push(first.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return found;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function packageRule(name: string): readonly string[] | undefined {
  return PACKAGES[name] ?? Object.entries(PACKAGES).find(([key]) => key.endsWith('/') && name.startsWith(key))?.[1];
}

/** Why `from` may not import `to` (both paths relative to src/), or undefined when it may. */
function directionProblem(from: string, to: string): string | undefined {
  const a = unitOf(from);
  const b = unitOf(to);
  if (LEAVES.includes(a)) return `${a} is a leaf and imports nothing from src/`;
  if (a === b || LEAVES.includes(b)) return undefined;
  if (b === DEV_IDP) return DEV_IDP_IMPORTERS.includes(a) ? undefined : `only ${DEV_IDP_IMPORTERS.join(', ')} and tests may import ${DEV_IDP}/`;
  if (a === DEV_IDP) return `${DEV_IDP}/ stands apart and imports only ${LEAVES.join(', ')}`;
  const rankA = RANK.get(a);
  const rankB = RANK.get(b);
  if (rankA === undefined || rankB === undefined) return undefined; // reported once as unplaced
  if (rankA === rankB) return `${a} and ${b} sit side by side and may not import each other`;
  if (rankA > rankB) return `${b} sits above ${a}`;
  return undefined;
}

/** One shortest cycle through `start`, walking only inside `members`. */
function cycleThrough(start: string, graph: Map<string, Set<string>>, members: Set<string>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  for (const node of queue) {
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.has(node)) {
      const members = new Set(component);
      found.push(cycleThrough(component.sort()[0]!, graph, members));
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return found;
}

/** Checks the tree under `srcDir`; returns one readable line per problem (empty when all is well). */
export function checkImports(srcDir: string): string[] {
  const root = resolve(srcDir);
  const files = sourceFiles(root).sort();
  const problems: string[] = [];
  const edges: Edge[] = [];
  for (const file of files) {
    const unit = unitOf(file);
    if (!isTest(file) && !RANK.has(unit) && !LEAVES.includes(unit) && unit !== DEV_IDP) {
      problems.push(`unplaced: src/${file} (${unit} has no place in LAYERS or LEAVES in scripts/check-imports.ts)`);
    }
    for (const specifier of specifiers(file, readFileSync(join(root, file), 'utf8'))) {
      if (specifier.startsWith('.')) {
        const to = relative(root, resolve(root, dirname(file), specifier));
        if (to.startsWith('..')) {
          if (!isTest(file)) problems.push(`outside src/: src/${file} -> ${specifier} (only tests may import from outside src/)`);
        } else {
          edges.push({ from: file, to, specifier });
        }
      } else if (!specifier.startsWith('node:') && !isTest(file)) {
        const name = packageName(specifier);
        const allowed = packageRule(name);
        if (allowed && !allowed.includes(unit)) {
          problems.push(`package: src/${file} -> ${name} (only ${allowed.join(', ')} may import ${name})`);
        }
      }
    }
  }

  const graph = new Map<string, Set<string>>(files.map((file) => [file, new Set()]));
  for (const { from, to } of edges) {
    graph.get(from)!.add(to);
    if (isTest(from)) continue;
    const why = directionProblem(from, to);
    if (why) problems.push(`wrong way: src/${from} -> src/${to} (${why})`);
  }
  const loops = cycles(graph).map((cycle) => `cycle: ${cycle.map((file) => `src/${file}`).join(' -> ')}`);
  problems.push(...loops.sort());
  return problems;
}

if (import.meta.main) {
  const src = join(import.meta.dirname, '..', 'src');
  const problems = checkImports(src);
  for (const line of problems) console.error(line);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} problem(s); the allowed directions are listed in scripts/check-imports.ts`);
    process.exitCode = 1;
  } else {
    console.log('check-imports: no cycles, no wrong-way imports');
  }
}
