import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { formatProblem, kindInfo, validate, warnings, type Problem } from "../api/index.js";
import { isRecord } from "../api/semantics.js";
import { readManifestSources, type SourceText } from "./files.js";

export type DocumentOutcome = "valid" | "invalid" | "skipped";

export interface DocumentReport {
  file: string;
  /** 0-based index of the document within its file. */
  index: number;
  /** `Kind/name`, or what could be read of it. */
  object: string;
  outcome: DocumentOutcome;
  problems: Problem[];
  warnings: Problem[];
  /** Why a document was skipped (unknown kind, empty). */
  note?: string;
}

function describe(doc: unknown): string {
  if (!isRecord(doc)) return "(not an object)";
  const kind = typeof doc.kind === "string" ? doc.kind : "(no kind)";
  const md = doc.metadata;
  const name =
    isRecord(md) && typeof md.name === "string"
      ? md.name
      : isRecord(md) && typeof md.generateName === "string"
        ? `${md.generateName}*`
        : "(no name)";
  return `${kind}/${name}`;
}

/** Validates every YAML document of every source offline. */
export function validateSources(sources: SourceText[]): DocumentReport[] {
  const reports: DocumentReport[] = [];
  for (const source of sources) {
    const docs = parseAllDocuments(source.text);
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, index) => {
      const base = { file: source.name, index, warnings: [] as Problem[] };
      if (doc.errors.length > 0) {
        const problems = doc.errors.map((e) => ({
          path: "",
          value: undefined,
          rule: "yaml-syntax",
          message: e.message.split("\n")[0] ?? e.message,
        }));
        reports.push({ ...base, object: "(unparsable)", outcome: "invalid", problems });
        return;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---) is nothing
      const object = describe(value);
      if (!isRecord(value) || !kindInfo(value.apiVersion, value.kind)) {
        const problems = validate(value);
        // A kind we own under the wrong apiVersion is a mistake, not someone else's kind.
        if (problems[0]?.rule === "enum" && problems[0].path === "apiVersion") {
          reports.push({ ...base, object, outcome: "invalid", problems });
        } else {
          reports.push({
            ...base,
            object,
            outcome: "skipped",
            problems: [],
            note: `kind ${isRecord(value) ? String(value.apiVersion) + "/" + String(value.kind) : "?"} is not one of ours`,
          });
        }
        return;
      }
      const problems = validate(value);
      reports.push({
        ...base,
        object,
        outcome: problems.length ? "invalid" : "valid",
        problems,
        warnings: warnings(value),
      });
    });
  }
  return reports;
}

export function formatReports(reports: DocumentReport[]): string[] {
  const lines: string[] = [];
  for (const r of reports) {
    const where = `${r.file}[${r.index}] ${r.object}`;
    if (r.outcome === "skipped") lines.push(`${where}: skipped (${r.note})`);
    for (const p of r.problems) lines.push(`${where}: ${formatProblem(p)}`);
    for (const w of r.warnings) lines.push(`${where}: warning: ${formatProblem(w)}`);
  }
  const count = (o: DocumentOutcome) => reports.filter((r) => r.outcome === o).length;
  lines.push(
    `${reports.length} documents: ${count("valid")} valid, ${count("invalid")} invalid, ${count("skipped")} skipped`,
  );
  return lines;
}

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description(
      "validate AIBrix-compatible manifests offline (multi-document YAML or JSON); exit 1 when any is invalid",
    )
    .requiredOption(
      "-f, --filename <path>",
      "a file, a directory (searched recursively for .yaml/.yml/.json), or - for stdin",
    )
    .option("-o, --output <format>", "text or json", "text")
    .action(async (opts: { filename: string; output: string }) => {
      if (opts.output !== "text" && opts.output !== "json")
        throw new Error(`--output must be text or json, got "${opts.output}"`);
      const reports = validateSources(await readManifestSources(opts.filename));
      if (opts.output === "json") console.log(JSON.stringify(reports, null, 2));
      else for (const line of formatReports(reports)) console.log(line);
      process.exitCode = reports.some((r) => r.outcome === "invalid") ? 1 : 0;
    });
}
