// Lines per function in the production folders, measured on the syntax tree: a function's span from its first line
// to its last, nested functions included (a closure is part of the function a reader has to hold). Run directly
// (`npx tsx test/support/function-lengths.ts [limit]`) it lists the functions over the limit, longest first.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { PRODUCT_FOLDERS, repoRoot, sourceFiles } from "./source-tree.js";

/** The folders whose functions count: every deployable and the CLI (benchmarks and tests do not ship). */
export const PRODUCTION_FOLDERS = [...PRODUCT_FOLDERS, "cli"];

export interface FunctionLength {
  /** `folder/file.ts:name`, where name is the function's, its class's and method's, or what it is assigned to. */
  id: string;
  file: string;
  line: number;
  lines: number;
}

/** A readable name for a function node: declared, a method of a class or object, or the variable it is bound to. */
function nameOf(node: ts.Node, sf: ts.SourceFile): string | undefined {
  const named = node as ts.Node & { name?: ts.Node };
  const own =
    named.name && (ts.isIdentifier(named.name) || ts.isStringLiteral(named.name)) ? named.name.text : undefined;
  const parent = node.parent;
  if (ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessor(node)) {
    const owner = parent && ts.isClassLike(parent) && parent.name ? `${parent.name.text}.` : "";
    return owner + (ts.isConstructorDeclaration(node) ? "constructor" : (own ?? named.name?.getText(sf) ?? "?"));
  }
  if (own) return own;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  return undefined;
}

/** Every function in `files` (relative to the repository) with its length in lines. */
export function functionLengths(files: string[]): FunctionLength[] {
  const out: FunctionLength[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(repoRoot, file), "utf8");
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const seen = new Map<string, number>();
    const visit = (node: ts.Node, enclosing: string) => {
      let here = enclosing;
      if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
        const base = nameOf(node, sf) ?? `${enclosing || "module"}/callback`;
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        const name = n === 1 ? base : `${base}#${n}`;
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        out.push({ id: `${file}:${name}`, file, line: start + 1, lines: end - start + 1 });
        here = name;
      }
      ts.forEachChild(node, (c) => visit(c, here));
    };
    visit(sf, "");
  }
  return out;
}

/** The production source files, relative to the repository. */
export function productionFiles(): string[] {
  return PRODUCTION_FOLDERS.flatMap((d) => sourceFiles(path.join(repoRoot, d))).map((f) => path.relative(repoRoot, f));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const limit = Number(process.argv[2] ?? "80");
  const long = functionLengths(productionFiles())
    .filter((f) => f.lines > limit)
    .sort((a, b) => b.lines - a.lines);
  for (const f of long) console.log(`${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.id.split(":")[1]}`);
  console.log(`${long.length} production functions over ${limit} lines`);
}
