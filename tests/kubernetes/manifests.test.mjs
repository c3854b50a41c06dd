// deploy/kubernetes, checked offline (no Kubernetes cluster runs here): every object against the Kubernetes API's
// own schemas (kubernetes-models), then the references a schema cannot see: labels and selectors, named ports,
// the service account's rights, the bootstrap's settings against the pod spec, the image's ports (the Dockerfile)
// and the Secrets docs/cluster.md tells a user to create.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const root = fileURLToPath(new URL("../..", import.meta.url));
const deploy = join(root, "deploy/kubernetes");
const read = (path) => readFileSync(path, "utf8");

function parse(text, file) {
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
    return doc.toJS();
  });
}

const kustomization = parse(read(join(deploy, "kustomization.yaml")), "kustomization.yaml")[0];
const objects = kustomization.resources.flatMap((file) =>
  parse(read(join(deploy, file)), file).map((object) => ({ file, object })));
const find = (kind, name) => {
  const found = objects.filter(({ object }) => object.kind === kind && (name === undefined || object.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` named ${name}` : ""}`);
  return found[0].object;
};

// kubernetes-models lays its classes out by API group and version: apps/v1/Deployment, v1/Service, ...
async function model(object) {
  const module = await import(`kubernetes-models/${object.apiVersion}/${object.kind}`);
  return new module[object.kind](object);
}

const deployment = find("Deployment");
const pod = deployment.spec.template;
const container = pod.spec.containers[0];
const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
const port = (name) => {
  const found = container.ports.find((p) => p.name === name);
  assert.ok(found, `the container has a port named ${name}`);
  return found.containerPort;
};
const labelled = (selector) => Object.entries(selector).every(([key, value]) => pod.metadata.labels[key] === value);

test("the kustomization lists every manifest in deploy/kubernetes and nothing else", () => {
  const files = readdirSync(deploy).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
  assert.deepEqual([...kustomization.resources].sort(), files);
});

test("the validator refuses a broken object (so that its passes below mean something)", async () => {
  const broken = structuredClone(deployment);
  broken.spec.template.spec.containers[0].ports[0].containerPort = "http";
  await assert.rejects(async () => (await model(broken)).validate(), /containerPort must be integer/);
  const nameless = structuredClone(deployment);
  delete nameless.spec.template.spec.containers[0].name;
  await assert.rejects(async () => (await model(nameless)).validate(), /name/);
});

test("every object is valid against the Kubernetes API's schema", async () => {
  for (const { file, object } of objects) {
    const instance = await model(object);
    try {
      instance.validate();
    } catch (error) {
      assert.fail(`${file}: ${object.kind} ${object.metadata.name}: ${error.message}`);
    }
  }
});

test("every namespaced object is in the kustomization's namespace", () => {
  for (const { object } of objects.filter(({ object }) => object.kind !== "Namespace")) {
    assert.equal(object.metadata.namespace, kustomization.namespace, `${object.kind} ${object.metadata.name}`);
  }
  assert.equal(find("Namespace").metadata.name, kustomization.namespace);
});

test("the Services and the disruption budget select the gateway pods, by ports the container names", () => {
  assert.ok(labelled(deployment.spec.selector.matchLabels), "the Deployment selects its own pods");
  for (const service of objects.filter(({ object }) => object.kind === "Service").map(({ object }) => object)) {
    assert.ok(labelled(service.spec.selector), `Service ${service.metadata.name} selects the gateways`);
    for (const p of service.spec.ports) port(p.targetPort);
  }
  const headless = find("Service", "relay-gateway-headless");
  assert.equal(headless.spec.clusterIP, "None");
  assert.equal(headless.spec.publishNotReadyAddresses, true, "gateways are found before they are ready");
  assert.deepEqual(find("Service", "relay").spec.ports.map((p) => p.targetPort), ["http"], "clients reach only the HTTP port");
  const budget = find("PodDisruptionBudget");
  assert.ok(labelled(budget.spec.selector.matchLabels));
  assert.equal(budget.spec.maxUnavailable, 1);
});

test("the container's ports are the image's (the Dockerfile's ENV) and the bootstrap's", () => {
  const dockerfile = read(join(root, "Dockerfile"));
  assert.equal(port("http"), Number(/ASPNETCORE_URLS=http:\/\/\+:(\d+)/.exec(dockerfile)[1]));
  assert.equal(port("akka"), Number(/Relay__Akka__Port=(\d+)/.exec(dockerfile)[1]));
  assert.equal(port("management"), Number(env.Relay__Akka__Bootstrap__ManagementPort.value),
    "the bootstrap probes every pod on ManagementPort");
  for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) port(probe.httpGet.port);
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
});

test("Cluster Bootstrap through the Kubernetes API: pod IPs, enough replicas to form, the right to list pods", () => {
  assert.equal(env.Relay__Akka__Bootstrap__Discovery.value, "kubernetes");
  assert.equal(env.POD_IP.valueFrom.fieldRef.fieldPath, "status.podIP");
  assert.equal(env.Relay__Akka__Hostname.value, "$(POD_IP)");
  assert.equal(env.Relay__Akka__Bootstrap__ManagementHostname, undefined, "the contact point's host follows Relay:Akka:Hostname, the pod IP");
  assert.ok(container.env.findIndex((e) => e.name === "POD_IP") < container.env.findIndex((e) => e.name === "Relay__Akka__Hostname"),
    "$(POD_IP) expands only after POD_IP is defined");
  assert.equal(pod.metadata.labels.app, env.Relay__Akka__Bootstrap__ServiceName.value, "the discovery's selector is app=<ServiceName>");
  assert.ok(deployment.spec.replicas >= Number(env.Relay__Akka__Bootstrap__RequiredContactPoints.value));
  assert.equal(env.Relay__Akka__SeedNodes__0, undefined, "no static seeds beside the bootstrap");

  const account = find("ServiceAccount", pod.spec.serviceAccountName);
  const binding = objects.map(({ object }) => object).find((o) => o.kind === "RoleBinding"
    && o.subjects.some((s) => s.kind === "ServiceAccount" && s.name === account.metadata.name && s.namespace === account.metadata.namespace));
  assert.ok(binding, "a RoleBinding names the gateways' service account");
  const role = find(binding.roleRef.kind, binding.roleRef.name);
  assert.ok(role.rules.some((r) => r.apiGroups.includes("") && r.resources.includes("pods") && r.verbs.includes("list")));
});

test("TLS between the gateways and the journal's connection come from the Secrets docs/cluster.md names", () => {
  const docs = read(join(root, "docs/cluster.md"));
  assert.equal(env.Relay__Akka__Tls__Enabled.value, "true");
  const certs = pod.spec.volumes.find((v) => v.secret);
  const mount = container.volumeMounts.find((m) => m.name === certs.name);
  assert.equal(env.Relay__Akka__Tls__CertificatePath.value, `${mount.mountPath}/${certs.secret.items[0].path}`);
  assert.equal(mount.readOnly, true);
  const secrets = [certs.secret.secretName, ...container.env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom.secretKeyRef.name)];
  for (const secret of new Set(secrets)) {
    assert.match(docs, new RegExp(`kubectl -n ${kustomization.namespace} create secret generic ${secret} `), `docs/cluster.md creates ${secret}`);
  }
  assert.equal(env.Relay__Journal__Provider.value, "postgresql");
});

test("a gateway has time to leave the cluster on SIGTERM, and a read-only root has somewhere to write", () => {
  // Program.cs bounds the whole shutdown at 10 s; the grace period leaves it room on a loaded node.
  assert.ok(pod.spec.terminationGracePeriodSeconds >= 20);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  for (const path of ["/tmp", "/app/data"]) {
    assert.ok(container.volumeMounts.some((m) => m.mountPath === path), `${path} is mounted`);
  }
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
});
