// Checks what the lameduck chart promises on one rendered release (helm
// template output): the sidecar's placement for its mode, the preStop hook,
// one grace period for the pod and the config, the downward-API env, the
// hardened securityContext, the spool volume, RBAC only for the kubernetes
// traffic backend and then only get/patch on the one object it names, and
// the monitors. Also writes the rendered lameduck.yaml to OUT_CONFIG, for
// `lameduck check-config`.
// Usage: node check-rendered.mjs TOOLS_DIR RENDERED.yaml OUT_CONFIG
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [tools, file, outConfig] = process.argv.slice(2);
const { parseAllDocuments, parse } = await import(
  pathToFileURL(path.join(tools, "node", "node_modules", "yaml", "dist", "index.js")));
const objects = parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
const problems = [];
const expect = (cond, what) => { if (!cond) problems.push(what); };
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const ofKind = (k) => objects.filter((o) => o.kind === k);

const cms = ofKind("ConfigMap").filter((c) => c.data && c.data["lameduck.yaml"]);
expect(cms.length === 1, `one ConfigMap with lameduck.yaml, found ${cms.length}`);
const configText = cms[0]?.data["lameduck.yaml"] ?? "";
fs.writeFileSync(outConfig, configText);
const config = parse(configText) ?? {};
const backend = config.traffic?.backend ?? "none";

// The workloads that carry the sidecar (an example may add others, e.g. HAProxy).
const hasSidecar = (o) => [...(o.spec.template.spec.initContainers ?? []), ...(o.spec.template.spec.containers ?? [])]
  .some((c) => c.name === "lameduck");
const workloads = objects.filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind) && hasSidecar(o));
expect(workloads.length > 0, "a workload with the sidecar");
for (const w of workloads) {
  const spec = w.spec.template.spec;
  const where = `${w.kind}/${w.metadata.name}`;
  const init = (spec.initContainers ?? []).filter((c) => c.name === "lameduck");
  const regular = (spec.containers ?? []).filter((c) => c.name === "lameduck");
  expect(init.length + regular.length === 1, `${where}: exactly one lameduck container`);
  const sidecar = init[0] ?? regular[0];
  if (!sidecar) continue;
  if (init.length) {
    expect(sidecar.restartPolicy === "Always", `${where}: native sidecar needs restartPolicy: Always`);
  } else {
    expect(sidecar.restartPolicy === undefined, `${where}: classic sidecar has no restartPolicy`);
  }
  // One grace period.
  const grace = `${spec.terminationGracePeriodSeconds}s`;
  expect(config.exit?.grace_period === grace,
         `${where}: exit.grace_period ${config.exit?.grace_period} != terminationGracePeriodSeconds ${grace}`);
  // The app containers call /prestop on the admin port.
  const adminPort = Number(String(config.admin?.listen ?? "").split(":").pop());
  const apps = spec.containers.filter((c) => c.name !== "lameduck");
  expect(apps.length > 0, `${where}: an app container`);
  for (const app of apps) {
    const hook = app.lifecycle?.preStop?.httpGet;
    expect(hook?.path === "/prestop" && Number(hook?.port) === adminPort,
           `${where}: container ${app.name} preStop httpGet /prestop on ${adminPort}, got ${JSON.stringify(hook)}`);
  }
  expect(sidecar.ports.some((p) => p.containerPort === adminPort), `${where}: admin port exposed`);
  // Downward API.
  const fieldRefs = { POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace",
                      POD_UID: "metadata.uid", NODE_NAME: "spec.nodeName", HOST_IP: "status.hostIP" };
  for (const [name, field] of Object.entries(fieldRefs)) {
    const env = sidecar.env.find((e) => e.name === name);
    expect(env?.valueFrom?.fieldRef?.fieldPath === field, `${where}: env ${name} from ${field}`);
  }
  expect((config.admin?.allow_cidrs ?? []).includes("${HOST_IP}"), "admin.allow_cidrs has ${HOST_IP}");
  // Hardened.
  const sc = sidecar.securityContext ?? {};
  expect(sc.runAsNonRoot === true && Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${where}: non-root numeric user`);
  expect(sc.readOnlyRootFilesystem === true, `${where}: read-only root filesystem`);
  expect(sc.allowPrivilegeEscalation === false, `${where}: no privilege escalation`);
  expect(eq(sc.capabilities?.drop, ["ALL"]), `${where}: all capabilities dropped`);
  expect(sc.seccompProfile?.type === "RuntimeDefault", `${where}: seccomp RuntimeDefault`);
  expect(sidecar.resources?.requests && sidecar.resources?.limits, `${where}: requests and limits`);
  // The spool is on a writable volume.
  const spoolMount = sidecar.volumeMounts.find((m) => String(config.compensation?.spool).startsWith(m.mountPath + "/"));
  expect(spoolMount && !spoolMount.readOnly, `${where}: compensation.spool ${config.compensation?.spool} on a writable mount`);
  expect(spoolMount && spec.volumes.some((v) => v.name === spoolMount.name), `${where}: the spool volume exists`);
  // RBAC and the service account.
  if (backend === "kubernetes") {
    expect(spec.serviceAccountName, `${where}: serviceAccountName for the kubernetes backend`);
    const bindings = ofKind("RoleBinding");
    expect(bindings.length === 1 && bindings[0].subjects.length === 1 &&
           bindings[0].subjects[0].name === spec.serviceAccountName,
           `${where}: the RoleBinding binds the pod's service account`);
  }
}

const rbacKinds = ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"];
if (backend === "kubernetes") {
  const k = config.traffic.kubernetes;
  const group = k.api_version.includes("/") ? k.api_version.split("/")[0] : "";
  const roles = ofKind("Role");
  expect(roles.length === 1, `one Role, found ${roles.length}`);
  expect(ofKind("ClusterRole").length === 0 && ofKind("ClusterRoleBinding").length === 0, "no cluster-wide RBAC");
  const rules = roles[0]?.rules ?? [];
  expect(rules.length === 1, `one rule, found ${rules.length}`);
  const r = rules[0] ?? {};
  expect(eq(r.apiGroups, [group]), `rule apiGroups ${JSON.stringify(r.apiGroups)} != ["${group}"]`);
  expect(eq(r.resourceNames, [k.name]), `rule resourceNames ${JSON.stringify(r.resourceNames)} != ["${k.name}"]`);
  expect(eq([...(r.verbs ?? [])].sort(), ["get", "patch"]), `rule verbs ${JSON.stringify(r.verbs)}`);
  expect(r.resources?.length === 1 && r.resources[0] === r.resources[0].toLowerCase(), "one lower-case resource");
  if (k.resource) expect(r.resources?.[0] === k.resource, `rule resource ${r.resources?.[0]} != traffic.kubernetes.resource ${k.resource}`);
  expect(roles[0]?.metadata.namespace === k.namespace, `Role in ${k.namespace}, the object's namespace`);
} else {
  for (const kind of rbacKinds) expect(ofKind(kind).length === 0, `no ${kind} with traffic.backend ${backend}`);
}

if (problems.length) {
  console.log(`FAIL ${file}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`ok   ${file}: mode ${objects.some((o) => o.spec?.template?.spec?.initContainers) ? "native" : "classic"}, backend ${backend}, ${objects.length} objects`);
