// Validates Kubernetes manifests offline, without a cluster:
//  1. against the JSON schemas generated from the Kubernetes OpenAPI spec
//     (kubernetes-models; the Prometheus Operator and Gateway API CRDs from
//     @kubernetes-models/*): types, required fields, enums, formats;
//  2. for built-in kinds, strictly: every field must exist in the API
//     (@kubernetes/client-node's model attribute maps), which the OpenAPI
//     schemas alone do not check (a misspelt or misplaced field passes them,
//     and the API server would drop it).
// Usage: node validate-k8s.mjs TOOLS_DIR FILE...   (multi-document YAML;
// "-" reads stdin). Prints one line per object; exits 1 on any error.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [tools, ...files] = process.argv.slice(2);
const modules = path.join(tools, "node", "node_modules");
const { parseAllDocuments } = await import(pathToFileURL(path.join(modules, "yaml", "dist", "index.js")));
const modelsDir = path.join(tools, "client-node-models");

// Where the schema validator of an apiVersion/kind lives.
function modelFile(apiVersion, kind) {
  const crdPackages = {
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
    "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  };
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const pkg = crdPackages[group] ?? "kubernetes-models";
  return path.join(modules, pkg, apiVersion, `${kind}.js`);
}

const attributeMaps = new Map();
async function attributeMap(typeName) {
  if (attributeMaps.has(typeName)) return attributeMaps.get(typeName);
  const file = path.join(modelsDir, `${typeName}.js`);
  let map = null;
  if (fs.existsSync(file)) {
    const mod = await import(pathToFileURL(file));
    const cls = mod[typeName];
    if (cls && typeof cls.getAttributeTypeMap === "function") map = cls.getAttributeTypeMap();
  }
  attributeMaps.set(typeName, map);
  return map;
}

// Reports every key of `value` that the API type `typeName` does not have.
async function unknownFields(value, typeName, where, errors) {
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) await unknownFields(value[i], array[1], `${where}[${i}]`, errors);
    }
    return;
  }
  const dict = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (dict) {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) await unknownFields(v, dict[1], `${where}.${k}`, errors);
    }
    return;
  }
  const map = await attributeMap(typeName);
  if (!map || value === null || typeof value !== "object" || Array.isArray(value)) return;
  const fields = new Map(map.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) {
      errors.push(`${where || "."}: unknown field "${k}" (${typeName} has: ${[...fields.keys()].join(", ")})`);
    } else {
      await unknownFields(v, fields.get(k), `${where}.${k}`, errors);
    }
  }
}

function typeNameOf(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

let failed = 0;
let count = 0;
for (const file of files) {
  const text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      console.log(`FAIL ${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    count++;
    const id = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
    const errors = [];
    if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      errors.push("apiVersion and kind are required");
    } else {
      const mf = modelFile(obj.apiVersion, obj.kind);
      if (!fs.existsSync(mf)) {
        errors.push(`no schema for ${obj.apiVersion} ${obj.kind}`);
      } else {
        const mod = await import(pathToFileURL(mf));
        const Model = mod[obj.kind] ?? mod.default;
        try {
          new Model(obj).validate();
        } catch (e) {
          errors.push(`schema: ${e.message}`);
        }
        if (await attributeMap(typeNameOf(obj.apiVersion, obj.kind))) {
          await unknownFields(obj, typeNameOf(obj.apiVersion, obj.kind), "", errors);
        }
      }
    }
    if (errors.length) {
      failed++;
      console.log(`FAIL ${file}: ${id}\n  ${errors.join("\n  ")}`);
    } else {
      console.log(`ok   ${file}: ${obj.apiVersion} ${id}`);
    }
  }
}
if (count === 0) {
  console.log(`FAIL: no Kubernetes objects in ${files.join(" ")}`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
