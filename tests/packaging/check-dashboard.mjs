// Checks the Grafana dashboard against a live /metrics exposition of a real
// lameduck after an exit: the JSON parses, every PromQL expression (panel
// targets and templating queries) parses with Prometheus's own grammar
// (lezer-promql), and every metric it names is one the exposition has
// (histograms by their _bucket/_sum/_count series).
// Usage: node check-dashboard.mjs TOOLS_DIR DASHBOARD.json METRICS.txt [PENDING...]
// PENDING: metric names of the design contract that lameduck does not
// export yet; they are allowed, and reported.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [tools, dashboardFile, metricsFile, ...pending] = process.argv.slice(2);
const { parser } = await import(pathToFileURL(
  path.join(tools, "node", "node_modules", "@prometheus-io", "lezer-promql", "dist", "index.es.js")));

const problems = [];
let dashboard;
try {
  dashboard = JSON.parse(fs.readFileSync(dashboardFile, "utf8"));
} catch (e) {
  console.log(`FAIL ${dashboardFile} does not parse: ${e.message}`);
  process.exit(1);
}

const exported = new Set();
for (const line of fs.readFileSync(metricsFile, "utf8").split("\n")) {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
  if (m) exported.add(m[1]);
}
if (exported.size === 0) problems.push(`no samples in ${metricsFile}`);

// Every expression, with where it is.
const exprs = [];
function walkPanels(panels, where) {
  for (const p of panels ?? []) {
    const here = `${where} panel "${p.title}"`;
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== "string" || !t.expr.trim()) problems.push(`${here}: target ${t.refId} has no expr`);
      else exprs.push({ where: `${here} ${t.refId}`, expr: t.expr });
    }
    walkPanels(p.panels, here);
  }
}
walkPanels(dashboard.panels, "");
for (const v of dashboard.templating?.list ?? []) {
  if (v.type !== "query") continue;
  const q = typeof v.query === "string" ? v.query : v.query?.query;
  // Grafana's own functions wrap a selector or an expression.
  const lv = /^label_values\(\s*(.+?)\s*,\s*[a-zA-Z_]+\s*\)$/.exec(q ?? "");
  const qr = /^query_result\((.+)\)$/.exec(q ?? "");
  if (lv) exprs.push({ where: `variable ${v.name}`, expr: lv[1] });
  else if (qr) exprs.push({ where: `variable ${v.name}`, expr: qr[1] });
  else problems.push(`variable ${v.name}: cannot read query ${JSON.stringify(q)}`);
}
if (exprs.length === 0) problems.push("no PromQL expressions found");

// Grafana variables: ranges become a duration, other uses stay inside strings.
const substitute = (e) => e.replace(/\[\$\{?[a-zA-Z_]+\}?\]/g, "[5m]").replace(/\$\{?__[a-z_]+\}?/g, "5m");

const used = new Set();
for (const { where, expr } of exprs) {
  const text = substitute(expr);
  const tree = parser.parse(text);
  let parseError = false;
  const names = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) parseError = true;
      if (node.name === "VectorSelector") {
        const sel = text.slice(node.from, node.to);
        const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(sel);
        const byName = /__name__\s*=\s*"([^"]+)"/.exec(sel);
        if (id) names.push(id[0]);
        else if (byName) names.push(byName[1]);
        else problems.push(`${where}: selector ${sel} names no metric`);
      }
    },
  });
  if (parseError) {
    problems.push(`${where}: does not parse as PromQL: ${expr}`);
    continue;
  }
  if (names.length === 0) problems.push(`${where}: names no metric: ${expr}`);
  for (const n of names) {
    used.add(n);
    if (!exported.has(n) && !pending.includes(n)) {
      problems.push(`${where}: ${n} is not in lameduck's exposition`);
    }
  }
}

for (const n of pending) {
  if (exported.has(n)) console.log(`note: ${n} is exported now; drop it from the pending list`);
  else if (used.has(n)) console.log(`note: ${n} is used but not exported yet (pending)`);
}
if (problems.length) {
  console.log(`FAIL ${dashboardFile}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`ok   ${dashboardFile}: ${exprs.length} expressions parse and use ${used.size} metrics lameduck exports: ${[...used].sort().join(" ")}`);
