#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in deploy/k8s/, without a cluster.

First the published schemas (published.py says where from; docs/kubernetes.md lists them):

1. Every core resource (Namespace, Deployment, Job, Service, PodDisruptionBudget, NetworkPolicy, and the example
   Secrets) against the OpenAPI schemas of Kubernetes KUBERNETES_VERSION, strict, with kubernetes-validate.
2. KEDA's and Strimzi's resources against their own CRDs, strict, CEL rules included, and the Kafka trigger's
   metadata against the parameters KEDA's Kafka scaler declares.

Then the repository's own rules, this file:

3. Layout: kustomization.yaml lists every manifest of the folder and nothing else; secret.example.yaml is not
   listed (Secrets are created with kubectl, never applied from the repository).
4. Our pods: non-root uid 10001, read-only root filesystem, no privilege escalation, capabilities dropped,
   RuntimeDefault seccomp, requests and limits, probes on the metrics port, a grace period longer than the drain,
   passwords only from Secret files, the owner's credentials in the migration Job only, every Secret and key
   referenced declared in secret.example.yaml with placeholder values.
5. What the resources say about each other and the choices docs/kubernetes.md explains: the scale target is the
   consumers' Deployment, 1 <= minReplicaCount and maxReplicaCount <= the topic's partitions, the trigger's group,
   topic and brokers are the consumers', the topics and node pools name a cluster of the manifests, replication
   within the brokers, an odd controller quorum, the Strimzi API versions docs/kubernetes.md installs.

`--self-test` mutates copies of the good manifests in ways that must fail and checks that each one is caught.
Exit status: 0 when nothing was found, 1 otherwise, 2 on a usage error. scripts/k8s-validate.sh installs the
pinned Python packages into .local/k8s-venv, then checks.py fetches the schemas (`--fetch`) and runs this, the
self-test and kube-score.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import published

# The Kubernetes version the core resources are validated against (kubernetes-validate 1.37.0 bundles the schemas
# of 1.25 to 1.37). PodDisruptionBudget.unhealthyPodEvictionPolicy needs 1.27 or newer (GA in 1.31).
KUBERNETES_VERSION = "1.33"

HERE = Path(__file__).resolve().parent
KUSTOMIZATION = "kustomization.yaml"
SECRET_EXAMPLE = "secret.example.yaml"
PLACEHOLDER = "CHANGE-ME"

# The image the repository's Dockerfile builds, and the user it runs as (`USER 10001:10001`).
IMAGE = "food-orders-pipeline"
APP_UID = 10001
METRICS_PORT = 9464
# What the consumer does on SIGTERM before it exits: writes its last batch within SHUTDOWN_WRITE_BUDGET (10 s,
# consumer/src/pipeline.rs), closes its pools within CLOSE_BUDGET (5 s, consumer/src/pool.rs), commits and leaves.
CONSUMER_DRAIN_S = 15
# The producer's final flush waits up to 60 s (producer/src/send.rs).
PRODUCER_FLUSH_S = 60
# The roles of docs/security.md.
WORK_ROLE = "orders_app"
OWNER_ROLE = "kafka_user"

# The Strimzi API versions of docs/kubernetes.md: v1beta2 (served up to 0.51, the version it installs) or v1 (from
# 0.49; the only one from 1.0). Strimzi 0.51 still serves KafkaTopic's v1alpha1 and v1beta1; the manifests do not.
STRIMZI_APIS = {"kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"}
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"
# The custom resources these rules know; any other kind fails until a rule here says how it relates to the rest.
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "Kafka", "KafkaNodePool", "KafkaTopic"}

QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
QUANTITY_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


@dataclass
class Doc:
    """One YAML document and the file it came from."""

    file: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "?"))

    @property
    def name(self) -> str:
        return str((self.data.get("metadata") or {}).get("name", "?"))

    @property
    def api(self) -> str:
        return str(self.data.get("apiVersion", "?"))

    def where(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


@dataclass
class Bundle:
    """The manifests as kustomize would apply them, plus what the folder holds around them."""

    applied: list[Doc]
    examples: list[Doc]
    listed: list[str]
    present: list[str]
    namespace: str | None = None

    def all(self, kind: str) -> list[Doc]:
        return [d for d in self.applied if d.kind == kind]

    def get(self, kind: str, name: str) -> Doc | None:
        return next((d for d in self.applied if d.kind == kind and d.name == name), None)


@dataclass
class Findings:
    items: list[str] = field(default_factory=list)

    def add(self, where: Doc | str, message: str) -> None:
        prefix = where.where() if isinstance(where, Doc) else where
        self.items.append(f"{prefix}: {message}")


# ----------------------------------------------------------------------------------------------------------- loading


def load(folder: Path) -> Bundle:
    kustomization = yaml.safe_load((folder / KUSTOMIZATION).read_text()) or {}
    listed = [str(r) for r in kustomization.get("resources") or []]
    present = sorted(p.name for p in folder.glob("*.yaml") if p.name != KUSTOMIZATION)
    applied: list[Doc] = []
    for name in listed:
        path = folder / name
        if path.is_file():
            applied.extend(Doc(name, d) for d in yaml.safe_load_all(path.read_text()) if d)
    examples: list[Doc] = []
    if (folder / SECRET_EXAMPLE).is_file():
        examples = [Doc(SECRET_EXAMPLE, d) for d in yaml.safe_load_all((folder / SECRET_EXAMPLE).read_text()) if d]
    return Bundle(applied, examples, listed, present, kustomization.get("namespace"))


# ----------------------------------------------------------------------------------------------------------- helpers


def dig(data: Any, *path: str | int, default: Any = None) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
        if data is None:
            return default
    return data


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`48Mi`, `250m`, `1`) as a number, or None when it does not parse."""
    m = QUANTITY.match(str(value))
    return float(m.group(1)) * QUANTITY_FACTORS[m.group(2)] if m else None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def namespace_of(bundle: Bundle, doc: Doc) -> str | None:
    return bundle.namespace or dig(doc.data, "metadata", "namespace")


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    """A label selector (matchLabels and In/NotIn/Exists/DoesNotExist expressions) against labels."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_labels(doc: Doc) -> dict[str, Any]:
    return dig(doc.data, "spec", "template", "metadata", "labels", default={})


def containers(doc: Doc) -> list[dict[str, Any]]:
    return dig(doc.data, "spec", "template", "spec", "containers", default=[])


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """The container's environment: name -> literal value (None for valueFrom)."""
    return {e.get("name"): e.get("value") for e in container.get("env") or []}


def runs(container: dict[str, Any], binary: str) -> bool:
    command = [str(c) for c in (container.get("command") or []) + (container.get("args") or [])]
    return bool(command) and command[0].rsplit("/", 1)[-1] == binary


def url_user(url: str) -> str | None:
    m = re.match(r"^[a-z]+://([^:@/]+)(?::[^@/]*)?@", url)
    return m.group(1) if m else None


def declared_secrets(bundle: Bundle) -> dict[str, set[str]]:
    """Secret name -> keys, as secret.example.yaml declares them."""
    out: dict[str, set[str]] = {}
    for doc in bundle.examples:
        if doc.kind == "Secret":
            keys = set((doc.data.get("stringData") or {}).keys()) | set((doc.data.get("data") or {}).keys())
            out[doc.name] = keys
    return out


def kafka_topic(bundle: Bundle, topic: str) -> Doc | None:
    for doc in bundle.all("KafkaTopic"):
        if (dig(doc.data, "spec", "topicName") or doc.name) == topic:
            return doc
    return None


def bootstrap_target(bundle: Bundle, server: str) -> tuple[Doc | None, str]:
    """The Kafka a `host:port` bootstrap address names (Strimzi's `<cluster>-kafka-bootstrap` Service on one of the
    cluster's listener ports), or None and why not."""
    m = re.match(r"^([a-z0-9-]+)-kafka-bootstrap(?:\.([a-z0-9-]+)(?:\.svc(?:\.[a-z0-9.-]+)?)?)?:([0-9]+)$", server)
    if not m:
        return None, f"{server!r} is not a Strimzi bootstrap address (<cluster>-kafka-bootstrap:<port>)"
    kafka = bundle.get("Kafka", m.group(1))
    if kafka is None:
        return None, f"{server!r} names Kafka cluster {m.group(1)!r}, which the manifests do not define"
    ports = {listener.get("port") for listener in dig(kafka.data, "spec", "kafka", "listeners", default=[])}
    if int(m.group(3)) not in ports:
        return None, f"{server!r}: Kafka {kafka.name!r} has no listener on port {m.group(3)} (it has {sorted(ports)})"
    return kafka, ""


def brokers_of(bundle: Bundle, cluster: str) -> int:
    return sum(
        int(dig(p.data, "spec", "replicas", default=0) or 0)
        for p in bundle.all("KafkaNodePool")
        if dig(p.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL) == cluster
        and "broker" in (dig(p.data, "spec", "roles", default=[]) or [])
    )


# ------------------------------------------------------------------------------------------------------------ layout


def check_layout(bundle: Bundle, f: Findings) -> None:
    for name in bundle.listed:
        if name not in bundle.present:
            f.add(KUSTOMIZATION, f"lists {name}, which is not in the folder")
    for name in bundle.present:
        if name == SECRET_EXAMPLE:
            if name in bundle.listed:
                f.add(KUSTOMIZATION, f"lists {SECRET_EXAMPLE}: its placeholders must never be applied")
        elif name not in bundle.listed:
            f.add(KUSTOMIZATION, f"does not list {name}: kubectl apply -k would leave it out")
    if not bundle.examples:
        f.add(SECRET_EXAMPLE, "missing: it declares the Secrets the manifests read")
    seen: set[tuple[str, str]] = set()
    for doc in bundle.applied:
        for key in ("apiVersion", "kind"):
            if not doc.data.get(key):
                f.add(doc, f"has no {key}")
        if not dig(doc.data, "metadata", "name"):
            f.add(doc, "has no metadata.name")
        if (doc.kind, doc.name) in seen:
            f.add(doc, "defined twice")
        seen.add((doc.kind, doc.name))
        ns = dig(doc.data, "metadata", "namespace")
        if doc.kind != "Namespace" and bundle.namespace and ns not in (None, bundle.namespace):
            f.add(doc, f"namespace {ns!r}, but kustomization.yaml puts everything in {bundle.namespace!r}")


# ----------------------------------------------------------------------------------------------------------- schemas


def is_core(doc: Doc) -> bool:
    group = doc.api.split("/")[0] if "/" in doc.api else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


class Schemas:
    """The published schemas: Kubernetes' through kubernetes-validate, KEDA's and Strimzi's through published.py.
    Results are kept by document content: the self-test validates the same unchanged documents many times."""

    def __init__(self, version: str, cache: Path) -> None:
        import kubernetes_validate  # noqa: PLC0415 (installed by scripts/k8s-validate.sh)

        self.kubernetes_validate = kubernetes_validate
        self.version = version
        self.published = published.Published(cache, version)
        self.results: dict[str, list[str]] = {}

    def check(self, data: dict[str, Any]) -> list[str]:
        key = json.dumps(data, sort_keys=True, default=str)
        if key not in self.results:
            self.results[key] = self.core(data) if is_core(Doc("", data)) else self.published.check(data)
        return self.results[key]

    def core(self, data: dict[str, Any]) -> list[str]:
        kv = self.kubernetes_validate
        try:
            kv.validate(data, self.version, strict=True)
        except kv.ValidationError as e:
            return [f"Kubernetes {self.version} schema, at {'/'.join(map(str, e.path)) or '(top)'}: {e.message}"]
        except kv.SchemaNotFoundError:
            return [f"no Kubernetes {self.version} schema for {data.get('apiVersion')} {data.get('kind')}"]
        return []


def check_schemas(bundle: Bundle, f: Findings, schemas: Schemas) -> int:
    """Validates every document against its published schema; returns how many were validated."""
    docs = bundle.applied + bundle.examples
    for doc in docs:
        for message in schemas.check(doc.data):
            f.add(doc, message)
    return len(docs)


# ---------------------------------------------------------------------------------------------- secrets and workloads


def check_secrets(bundle: Bundle, f: Findings) -> None:
    for doc in bundle.applied:
        if doc.kind == "Secret":
            f.add(
                doc, f"a Secret among the applied manifests: create it with kubectl and declare it in {SECRET_EXAMPLE}"
            )
    for doc in bundle.examples:
        if doc.kind != "Secret":
            f.add(doc, f"{SECRET_EXAMPLE} holds Secrets only")
            continue
        if doc.data.get("data"):
            f.add(doc, "use stringData with placeholders, not data")
        for key, value in (doc.data.get("stringData") or {}).items():
            if not str(value).startswith(PLACEHOLDER):
                f.add(doc, f"key {key!r} holds a value that is not a placeholder (start it with {PLACEHOLDER!r})")


def effective(container: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    value = dig(container, "securityContext", key)
    return value if value is not None else dig(pod, "securityContext", key)


def check_pod(bundle: Bundle, doc: Doc, f: Findings) -> None:
    """The rules every pod of ours follows (docs/security.md, "Containers"; Pod Security "restricted")."""
    pod = dig(doc.data, "spec", "template", "spec", default={})
    secrets = declared_secrets(bundle)
    if not pod.get("containers"):
        f.add(doc, "no containers")
    if pod.get("automountServiceAccountToken") is not False:
        f.add(doc, "automountServiceAccountToken must be false: the pods do not call the Kubernetes API")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            f.add(doc, f"{key} must not be set")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    fs_group = dig(pod, "securityContext", "fsGroup")
    for vol in volumes.values():
        secret = vol.get("secret")
        if secret is None:
            continue
        name = secret.get("secretName")
        if name not in secrets:
            f.add(doc, f"volume {vol.get('name')!r} reads Secret {name!r}, which {SECRET_EXAMPLE} does not declare")
        else:
            for item in secret.get("items") or []:
                if item.get("key") not in secrets[name]:
                    f.add(
                        doc,
                        f"volume {vol.get('name')!r} reads key {item.get('key')!r} of Secret {name!r}, "
                        f"which {SECRET_EXAMPLE} does not declare",
                    )
        mode = secret.get("defaultMode", 0o644)
        if fs_group is None or not mode & 0o040:
            f.add(
                doc,
                f"volume {vol.get('name')!r}: Secret files belong to root; uid {APP_UID} reads them only "
                f"through fsGroup and a group-readable defaultMode (0440)",
            )
    for c in pod.get("containers") or []:
        cname = f"container {c.get('name')!r}"
        if effective(c, pod, "runAsNonRoot") is not True:
            f.add(doc, f"{cname}: runAsNonRoot must be true")
        if effective(c, pod, "runAsUser") != APP_UID:
            f.add(doc, f"{cname}: runAsUser must be {APP_UID}, the Dockerfile's USER")
        if effective(c, pod, "runAsGroup") not in (None, APP_UID):
            f.add(doc, f"{cname}: runAsGroup must be {APP_UID}")
        if dig(effective(c, pod, "seccompProfile") or {}, "type") != "RuntimeDefault":
            f.add(doc, f"{cname}: seccompProfile.type must be RuntimeDefault")
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            f.add(doc, f"{cname}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            f.add(doc, f"{cname}: readOnlyRootFilesystem must be true")
        if sc.get("privileged"):
            f.add(doc, f"{cname}: privileged must not be set")
        if "ALL" not in (dig(sc, "capabilities", "drop", default=[]) or []):
            f.add(doc, f"{cname}: capabilities.drop must contain ALL")
        if dig(sc, "capabilities", "add"):
            f.add(doc, f"{cname}: capabilities.add must be empty")
        image = str(c.get("image", ""))
        if image.rsplit(":", 1)[0] != IMAGE:
            f.add(doc, f"{cname}: image {image!r} is not {IMAGE} (the repository's Dockerfile)")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if quantity(dig(resources, kind, res)) is None:
                    f.add(doc, f"{cname}: resources.{kind}.{res} missing or not a quantity")
        for res in ("cpu", "memory", "ephemeral-storage"):
            req, lim = quantity(dig(resources, "requests", res)), quantity(dig(resources, "limits", res))
            if req is not None and lim is not None and req > lim:
                f.add(doc, f"{cname}: resources.requests.{res} is above its limit")
        check_env(bundle, doc, c, volumes, f)


def check_env(bundle: Bundle, doc: Doc, c: dict[str, Any], volumes: dict[str, Any], f: Findings) -> None:
    cname = f"container {c.get('name')!r}"
    env = env_of(c)
    mounts = {m.get("mountPath"): volumes.get(m.get("name")) for m in c.get("volumeMounts") or []}
    for name, value in env.items():
        text = "" if value is None else str(value)
        if re.search(r"://[^/@:\s]+:[^/@\s]+@", text):
            f.add(doc, f"{cname}: {name} carries a password in its URL; use a password file from a Secret")
        if re.search(r"PASSWORD$", name or "") and value is not None:
            f.add(doc, f"{cname}: {name} holds a literal password; use {name}_FILE with a Secret")
        if name and name.endswith("_PASSWORD_FILE"):
            folder, _, file = text.rpartition("/")
            vol = mounts.get(folder)
            secret = (vol or {}).get("secret")
            if secret is None:
                f.add(doc, f"{cname}: {name}={text} is not in a mounted Secret volume")
            elif secret.get("items") and file not in {i.get("path") for i in secret["items"]}:
                f.add(doc, f"{cname}: {name}={text}: the Secret volume mounted at {folder} has no file {file!r}")
    server = env.get("KAFKA_BOOTSTRAP_SERVERS")
    if server is not None:
        for one in str(server).split(","):
            kafka, why = bootstrap_target(bundle, one.strip())
            if kafka is None:
                f.add(doc, f"{cname}: KAFKA_BOOTSTRAP_SERVERS: {why}")
    for key in ("KAFKA_TOPIC", "DLQ_TOPIC"):
        if env.get(key) is not None and kafka_topic(bundle, str(env[key])) is None:
            f.add(doc, f"{cname}: {key}={env[key]} names no KafkaTopic of the manifests")
    addr = env.get("METRICS_ADDR")
    if addr is not None and not str(addr).endswith(f":{METRICS_PORT}"):
        f.add(doc, f"{cname}: METRICS_ADDR={addr} is not on port {METRICS_PORT}")


def resolve_port(container: dict[str, Any], port: Any) -> Any:
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return port


def check_deployment(bundle: Bundle, doc: Doc, f: Findings) -> None:
    spec = doc.data.get("spec") or {}
    if not selector_matches(spec.get("selector"), pod_labels(doc)):
        f.add(doc, "spec.selector does not match the pod template's labels")
    pod = dig(spec, "template", "spec", default={})
    annotations = dig(spec, "template", "metadata", "annotations", default={})
    if annotations.get("prometheus.io/scrape") == "true" and str(annotations.get("prometheus.io/port")) != str(
        METRICS_PORT
    ):
        f.add(doc, f"prometheus.io/port must be {METRICS_PORT}, where METRICS_ADDR listens")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    for c in pod.get("containers") or []:
        cname = f"container {c.get('name')!r}"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = dig(c, probe, "httpGet")
            if not get:
                f.add(doc, f"{cname}: {probe} must be an httpGet of {path}")
                continue
            if get.get("path") != path:
                f.add(doc, f"{cname}: {probe} asks {get.get('path')!r}; it must ask {path}")
            if resolve_port(c, get.get("port")) != METRICS_PORT:
                f.add(doc, f"{cname}: {probe} port {get.get('port')!r} is not {METRICS_PORT} (METRICS_ADDR)")
        env = env_of(c)
        if str(env.get("METRICS_ADDR", "")) != f"0.0.0.0:{METRICS_PORT}":
            f.add(doc, f"{cname}: METRICS_ADDR must be 0.0.0.0:{METRICS_PORT}, or the probes cannot reach it")
        if runs(c, "order-consumer"):
            check_consumer(bundle, doc, c, env, grace, f)
        elif runs(c, "order-producer"):
            if not is_int(grace) or grace <= PRODUCER_FLUSH_S:
                f.add(
                    doc,
                    f"terminationGracePeriodSeconds {grace} must exceed the producer's final flush "
                    f"({PRODUCER_FLUSH_S} s, producer/src/send.rs)",
                )
        else:
            f.add(doc, f"{cname}: command must start with order-consumer or order-producer")


def check_consumer(bundle: Bundle, doc: Doc, c: dict[str, Any], env: dict[str, Any], grace: Any, f: Findings) -> None:
    if "--migrate-only" in (c.get("command") or []) + (c.get("args") or []):
        f.add(doc, "a Deployment must not run --migrate-only (that is the migration Job's)")
    if not is_int(grace) or grace <= CONSUMER_DRAIN_S:
        f.add(
            doc,
            f"terminationGracePeriodSeconds {grace} must exceed the consumer's drain ({CONSUMER_DRAIN_S} s: "
            "the last batch within 10 s, the pools closed within 5 s, then commit and leave)",
        )
    for key in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC",
        "DLQ_TOPIC",
        "CONSUMER_GROUP",
        "DATABASE_URL",
        "DATABASE_PASSWORD_FILE",
    ):
        if env.get(key) is None:
            f.add(doc, f"the consumer needs {key}")
    for key in ("MIGRATION_DATABASE_URL", "MIGRATION_DATABASE_PASSWORD_FILE"):
        if key in env:
            f.add(doc, f"{key}: the owner's credentials belong to the migration Job only")
    if url_user(str(env.get("DATABASE_URL", ""))) != WORK_ROLE:
        f.add(doc, f"DATABASE_URL must name the least-privilege role {WORK_ROLE}")
    store = env.get("OFFSET_STORE", "kafka")
    if store not in ("kafka", "postgres"):
        f.add(
            doc,
            f"OFFSET_STORE={store}: KEDA reads the offsets committed to Kafka; only kafka and postgres "
            "(which also commits to Kafka after each batch) keep its lag right",
        )


def check_job(bundle: Bundle, doc: Doc, f: Findings) -> None:
    pod = dig(doc.data, "spec", "template", "spec", default={})
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        f.add(doc, "restartPolicy must be Never or OnFailure")
    for c in pod.get("containers") or []:
        env = env_of(c)
        args = (c.get("command") or []) + (c.get("args") or [])
        if not runs(c, "order-consumer") or not ("--migrate-only" in args or str(env.get("MIGRATE_ONLY")) == "true"):
            f.add(doc, "the migration Job must run order-consumer --migrate-only (or MIGRATE_ONLY=true)")
        for key in (
            "DATABASE_URL",
            "DATABASE_PASSWORD_FILE",
            "MIGRATION_DATABASE_URL",
            "MIGRATION_DATABASE_PASSWORD_FILE",
        ):
            if env.get(key) is None:
                f.add(doc, f"the migration Job needs {key}")
        if url_user(str(env.get("MIGRATION_DATABASE_URL", ""))) != OWNER_ROLE:
            f.add(doc, f"MIGRATION_DATABASE_URL must name the schema's owner {OWNER_ROLE}")
        if url_user(str(env.get("DATABASE_URL", ""))) != WORK_ROLE:
            f.add(doc, f"DATABASE_URL must name {WORK_ROLE}, whose privileges the migration checks")


def check_workloads(bundle: Bundle, f: Findings) -> None:
    for doc in bundle.all("Deployment") + bundle.all("Job"):
        check_pod(bundle, doc, f)
        (check_deployment if doc.kind == "Deployment" else check_job)(bundle, doc, f)
    if not bundle.all("Job"):
        f.add("manifests", "no migration Job")
    deployments = bundle.all("Deployment")
    # The migration checks the working role's privileges on consumer_offsets only under OFFSET_STORE=postgres, so
    # the Job must say what the consumers say.
    stores = {
        (d.where(), str(env_of(c).get("OFFSET_STORE", "kafka")))
        for d in deployments + bundle.all("Job")
        for c in containers(d)
        if runs(c, "order-consumer")
    }
    if len({store for _, store in stores}) > 1:
        f.add("manifests", f"OFFSET_STORE differs between the consumers and the migration Job: {sorted(stores)}")
    for doc in bundle.all("Service"):
        selector = dig(doc.data, "spec", "selector", default={})
        targets = [d for d in deployments if selector_matches({"matchLabels": selector}, pod_labels(d))]
        if not targets:
            f.add(doc, "its selector matches no Deployment's pods")
        for port in dig(doc.data, "spec", "ports", default=[]):
            target = port.get("targetPort", port.get("port"))
            for d in targets:
                if not any(resolve_port(c, target) == METRICS_PORT for c in containers(d)):
                    f.add(doc, f"targetPort {target!r} is not {d.name}'s metrics port")
    for doc in bundle.all("PodDisruptionBudget"):
        if not any(selector_matches(dig(doc.data, "spec", "selector"), pod_labels(d)) for d in deployments):
            f.add(doc, "its selector matches no Deployment's pods")
    for d in deployments:
        if any(runs(c, "order-consumer") for c in containers(d)) and not any(
            selector_matches(dig(p.data, "spec", "selector"), pod_labels(d)) for p in bundle.all("PodDisruptionBudget")
        ):
            f.add(d, "the consumers have no PodDisruptionBudget")


# -------------------------------------------------------------------------------------------------------------- KEDA


def check_scaled_object(bundle: Bundle, doc: Doc, f: Findings) -> None:
    spec = doc.data.get("spec") or {}
    low = spec.get("minReplicaCount", 0)
    if not is_int(low) or low < 1:
        f.add(
            doc,
            "minReplicaCount must be at least 1: a group scaled to 0 commits nothing, and KEDA's Kafka "
            "scaler then may never see lag to scale it up again (the scaler's documented edge case)",
        )
    target = spec.get("scaleTargetRef") or {}
    deployment = None
    if target.get("name"):
        kind, api = target.get("kind", "Deployment"), target.get("apiVersion", "apps/v1")
        if (kind, api) != ("Deployment", "apps/v1"):
            f.add(doc, f"scaleTargetRef names a {api} {kind}; the consumers are an apps/v1 Deployment")
        deployment = bundle.get("Deployment", target["name"])
        if deployment is None:
            f.add(doc, f"scaleTargetRef names Deployment {target['name']!r}, which the manifests do not define")
        elif namespace_of(bundle, deployment) != namespace_of(bundle, doc):
            f.add(doc, "scaleTargetRef's Deployment is in another namespace")
        elif "replicas" in (deployment.data.get("spec") or {}):
            f.add(
                deployment,
                "sets spec.replicas although a ScaledObject scales it: every apply would undo the HPA's count",
            )
    for i, trigger in enumerate(spec.get("triggers") or []):
        if isinstance(trigger, dict):
            check_trigger(bundle, doc, f"spec.triggers[{i}]", trigger, spec, deployment, f)


def check_trigger(
    bundle: Bundle,
    doc: Doc,
    at: str,
    trigger: dict[str, Any],
    spec: dict[str, Any],
    deployment: Doc | None,
    f: Findings,
) -> None:
    if trigger.get("type") != "kafka":
        f.add(doc, f"{at}.type {trigger.get('type')!r}: the consumers scale on their group's lag (type kafka)")
        return
    meta = {k: str(v) for k, v in (trigger.get("metadata") or {}).items()}
    if "topic" not in meta:
        f.add(
            doc,
            f"{at}.metadata.topic is required here: without it KEDA sums the lag of every topic the group "
            "ever committed, and the replica cap is no longer food-orders' partitions",
        )
    ref = trigger.get("authenticationRef")
    if ref is not None:
        kind = (ref or {}).get("kind", "TriggerAuthentication")
        if bundle.get(kind, (ref or {}).get("name")) is None:
            f.add(
                doc,
                f"{at}.authenticationRef names {kind} {(ref or {}).get('name')!r}, which the manifests do not define",
            )
    clusters: set[str] = set()
    for server in meta.get("bootstrapServers", "").split(","):
        kafka, why = bootstrap_target(bundle, server.strip())
        if kafka is None:
            f.add(doc, f"{at}.metadata.bootstrapServers: {why}")
        else:
            clusters.add(kafka.name)
    topic = kafka_topic(bundle, meta.get("topic", ""))
    if "topic" in meta and topic is None:
        f.add(doc, f"{at}.metadata.topic {meta['topic']!r} names no KafkaTopic of the manifests")
    if topic is not None:
        cluster = dig(topic.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL)
        if clusters and cluster not in clusters:
            f.add(
                doc,
                f"{at}: topic {meta['topic']!r} belongs to Kafka {cluster!r}, not to the cluster "
                f"bootstrapServers names ({', '.join(sorted(clusters))})",
            )
        partitions = dig(topic.data, "spec", "partitions")
        high = spec.get("maxReplicaCount", 100)
        if is_int(partitions) and is_int(high) and high > partitions and meta.get("allowIdleConsumers") != "true":
            f.add(
                doc,
                f"maxReplicaCount {high} exceeds the {partitions} partitions of {meta['topic']!r}: the "
                "extra consumers would own nothing (KEDA caps them anyway unless allowIdleConsumers)",
            )
    if deployment is not None:
        consumer = next((c for c in containers(deployment) if runs(c, "order-consumer")), None)
        if consumer is None:
            f.add(doc, f"scaleTargetRef's Deployment {deployment.name!r} does not run order-consumer")
            return
        env = env_of(consumer)
        for key, var in (
            ("consumerGroup", "CONSUMER_GROUP"),
            ("topic", "KAFKA_TOPIC"),
            ("bootstrapServers", "KAFKA_BOOTSTRAP_SERVERS"),
        ):
            if key in meta and meta[key] != str(env.get(var)):
                f.add(
                    doc,
                    f"{at}.metadata.{key} {meta[key]!r} differs from the consumers' {var} "
                    f"{env.get(var)!r}: KEDA would measure another group's lag",
                )


def check_trigger_auth(bundle: Bundle, doc: Doc, f: Findings) -> None:
    """The Secret it reads is declared, key by key, and it reads every key declared for it."""
    secrets = declared_secrets(bundle)
    read: dict[str, set[str]] = {}
    for i, ref in enumerate((doc.data.get("spec") or {}).get("secretTargetRef") or []):
        name, key = (ref or {}).get("name"), (ref or {}).get("key")
        at = f"spec.secretTargetRef[{i}] reads"
        if name not in secrets:
            f.add(doc, f"{at} Secret {name!r}, which {SECRET_EXAMPLE} does not declare")
        elif key not in secrets[name]:
            f.add(doc, f"{at} key {key!r} of Secret {name!r}, which {SECRET_EXAMPLE} does not declare")
        read.setdefault(name, set()).add(key)
    for name, keys in read.items():
        for key in sorted(secrets.get(name, set()) - keys):
            f.add(doc, f"does not read key {key!r} of Secret {name!r}, which {SECRET_EXAMPLE} declares for it")


# ----------------------------------------------------------------------------------------------------------- Strimzi


def check_strimzi(bundle: Bundle, doc: Doc, f: Findings) -> None:
    if doc.api not in STRIMZI_APIS:
        f.add(doc, f"apiVersion {doc.api!r}: the manifests use {' or '.join(sorted(STRIMZI_APIS))}")
    cluster = dig(doc.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL)
    if doc.kind in ("KafkaNodePool", "KafkaTopic"):
        if cluster is None:
            f.add(doc, f"no label {STRIMZI_CLUSTER_LABEL}: Strimzi ignores a {doc.kind} without it")
        elif bundle.get("Kafka", cluster) is None:
            f.add(doc, f"label {STRIMZI_CLUSTER_LABEL}={cluster} names no Kafka of the manifests")
    spec = doc.data.get("spec") or {}
    if doc.kind == "Kafka":
        check_kafka(bundle, doc, spec, f)
    elif doc.kind == "KafkaNodePool":
        roles, replicas = spec.get("roles") or [], spec.get("replicas")
        if "controller" in roles and is_int(replicas) and replicas % 2 == 0:
            f.add(doc, f"{replicas} controllers: a KRaft quorum wants an odd number")
    elif doc.kind == "KafkaTopic":
        replicas = spec.get("replicas")
        if cluster is not None and is_int(replicas) and replicas > brokers_of(bundle, cluster):
            f.add(doc, f"spec.replicas {replicas} exceeds the {brokers_of(bundle, cluster)} brokers of {cluster!r}")
        isr = dig(spec, "config", "min.insync.replicas")
        if is_int(isr) and is_int(replicas) and isr > replicas:
            f.add(doc, f"config.min.insync.replicas {isr} above spec.replicas {replicas}: no write could succeed")


def check_kafka(bundle: Bundle, doc: Doc, spec: dict[str, Any], f: Findings) -> None:
    pools = [
        p for p in bundle.all("KafkaNodePool") if dig(p.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL) == doc.name
    ]
    if not pools:
        f.add(doc, "no KafkaNodePool is labelled for this cluster: KRaft clusters get their nodes from node pools")
    config = dig(spec, "kafka", "config", default={})
    brokers = brokers_of(bundle, doc.name)
    for rf, isr in (
        ("default.replication.factor", "min.insync.replicas"),
        ("transaction.state.log.replication.factor", "transaction.state.log.min.isr"),
        ("share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr"),
    ):
        if is_int(config.get(rf)) and is_int(config.get(isr)) and config[isr] > config[rf]:
            f.add(doc, f"spec.kafka.config: {isr} {config[isr]} above {rf} {config[rf]}: no write could succeed")
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        if is_int(config.get(key)) and config[key] > brokers:
            f.add(doc, f"spec.kafka.config.{key} {config[key]} exceeds the {brokers} brokers of its node pools")
    if bundle.all("KafkaTopic") and dig(spec, "entityOperator", "topicOperator") is None:
        f.add(doc, "spec.entityOperator.topicOperator is needed: without it no KafkaTopic becomes a topic")


def check_custom(bundle: Bundle, f: Findings) -> None:
    for doc in bundle.applied:
        if is_core(doc):
            continue
        if doc.kind not in CUSTOM_KINDS:
            f.add(doc, f"no check for {doc.api} {doc.kind}: add one to deploy/k8s/validate.py")
        elif doc.kind == "ScaledObject":
            check_scaled_object(bundle, doc, f)
        elif doc.kind == "TriggerAuthentication":
            check_trigger_auth(bundle, doc, f)
        else:
            check_strimzi(bundle, doc, f)
    for kind in ("ScaledObject", "Kafka", "KafkaNodePool", "KafkaTopic"):
        if not bundle.all(kind):
            f.add("manifests", f"no {kind}")


def check(bundle: Bundle, schemas: Schemas | None) -> tuple[Findings, int]:
    f = Findings()
    check_layout(bundle, f)
    validated = check_schemas(bundle, f, schemas) if schemas else 0
    check_secrets(bundle, f)
    check_workloads(bundle, f)
    check_custom(bundle, f)
    return f, validated


# --------------------------------------------------------------------------------------------------------- self-test


class _Delete:
    pass


DELETE = _Delete()
SO, TA = "ScaledObject/order-consumer", "TriggerAuthentication/keda-kafka-sasl"
KAFKA, POOL, TOPIC = "Kafka/food-orders", "KafkaNodePool/dual-role", "KafkaTopic/food-orders"
CONSUMER, PRODUCER, JOB = "Deployment/order-consumer", "Deployment/order-producer", "Job/food-orders-migrate"
META, LISTENER = ("spec", "triggers", 0, "metadata"), ("spec", "kafka", "listeners", 0)
POD = ("spec", "template", "spec")
C0 = (*POD, "containers", 0)
CSC = (*C0, "securityContext")
BEHAVIOR = ("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior")
VOLUME0 = (*POD, "volumes", 0, "secret")


def put(target: str, *path: Any) -> Callable[[Bundle], None]:
    """A change to document target ("Kind/name"): path's last item is the value to set at the keys before it;
    DELETE removes the key (or list item), and an index one past a list's end appends."""
    *keys, last, value = path

    def mutate(b: Bundle) -> None:
        doc = b.get(*target.split("/", 1))
        assert doc is not None, f"the self-test expects {target}"
        node: Any = doc.data
        for key in keys:
            node = node[key]
        if value is DELETE:
            node.pop(last)
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value

    return mutate


def env(target: str, name: str, value: Any) -> Callable[[Bundle], None]:
    """Sets (or with DELETE removes) a variable of the first container of target's pod template."""

    def mutate(b: Bundle) -> None:
        doc = b.get(*target.split("/", 1))
        assert doc is not None, f"the self-test expects {target}"
        variables = dig(doc.data, *C0, "env")
        variables[:] = [e for e in variables if e["name"] != name]
        if value is not DELETE:
            variables.append({"name": name, "value": value})

    return mutate


def both(*changes: Callable[[Bundle], None]) -> Callable[[Bundle], None]:
    def mutate(b: Bundle) -> None:
        for change in changes:
            change(b)

    return mutate


def extra(kind: str, api: str, **fields: Any) -> Callable[[Bundle], None]:
    return lambda b: b.applied.append(
        Doc("extra.yaml", {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, **fields})
    )


def mutations() -> list[tuple[str, str, Callable[[Bundle], None]]]:
    """Ways to break the good manifests: what each does, a piece of the finding it must cause, and the change.
    Most are caught by a published schema, the others by a rule of ours."""
    sasl = {"parameter": "user", "name": "keda-kafka-sasl", "key": "username"}
    # fmt: off
    return [
        # KEDA
        ("ScaledObject keda.sh/v1beta1", "no published schema serves keda.sh/v1beta1",
         put(SO, "apiVersion", "keda.sh/v1beta1")),
        ("unknown trigger key lagTreshold", "'lagTreshold' is not a trigger parameter",
         put(SO, *META, "lagTreshold", "1")),
        ("trigger without consumerGroup", "metadata.consumerGroup is required",
         put(SO, *META, "consumerGroup", DELETE)),
        ("trigger without bootstrapServers", "metadata.bootstrapServers is required",
         put(SO, *META, "bootstrapServers", DELETE)),
        ("lagThreshold not a number", "lagThreshold 'ten' is not an integer", put(SO, *META, "lagThreshold", "ten")),
        ("lagThreshold with decimals", "lagThreshold '1.5' is not an integer", put(SO, *META, "lagThreshold", "1.5")),
        ("lagThreshold unquoted", "lagThreshold: 100 is not of type 'string'", put(SO, *META, "lagThreshold", 100)),
        ("allowIdleConsumers yes", "allowIdleConsumers 'yes' is not a boolean",
         put(SO, *META, "allowIdleConsumers", "yes")),
        ("excludePersistentLag unquoted boolean", "excludePersistentLag: False is not of type 'string'",
         put(SO, *META, "excludePersistentLag", False)),
        ("offsetResetPolicy newest", "offsetResetPolicy 'newest' must be one of latest, earliest",
         put(SO, *META, "offsetResetPolicy", "newest")),
        ("sasl scram-sha-512 (Strimzi's spelling)", "sasl 'scram-sha-512' must be one of",
         put(SO, *META, "sasl", "scram-sha-512")),
        ("trigger type kafka-go", "type 'kafka-go'", put(SO, "spec", "triggers", 0, "type", "kafka-go")),
        ("consumerGroup not the consumers'", "differs from the consumers' CONSUMER_GROUP",
         put(SO, *META, "consumerGroup", "other")),
        ("trigger topic no KafkaTopic defines", "topic 'food-orders-v2' names no KafkaTopic",
         put(SO, *META, "topic", "food-orders-v2")),
        ("trigger without topic", "metadata.topic is required", put(SO, *META, "topic", DELETE)),
        ("bootstrapServers naming another cluster", "names Kafka cluster 'other'",
         put(SO, *META, "bootstrapServers", "other-kafka-bootstrap:9092")),
        ("bootstrapServers on a port without listener", "has no listener on port 9094",
         put(SO, *META, "bootstrapServers", "food-orders-kafka-bootstrap:9094")),
        ("authenticationRef to a missing TriggerAuthentication", "authenticationRef names TriggerAuthentication 'nope'",
         put(SO, "spec", "triggers", 0, "authenticationRef", {"name": "nope"})),
        ("scaleTargetRef to a missing Deployment", "names Deployment 'order-consumers'",
         put(SO, "spec", "scaleTargetRef", "name", "order-consumers")),
        ("scaleTargetRef to a StatefulSet", "apps/v1 StatefulSet",
         put(SO, "spec", "scaleTargetRef", "kind", "StatefulSet")),
        ("scaleTargetRef with a typo'd field", "('nmae' was unexpected)",
         put(SO, "spec", "scaleTargetRef", "nmae", "x")),
        ("maxReplicaCount above the partitions", "maxReplicaCount 7 exceeds the 6 partitions",
         put(SO, "spec", "maxReplicaCount", 7)),
        ("minReplicaCount 0", "minReplicaCount must be at least 1", put(SO, "spec", "minReplicaCount", 0)),
        ("minReplicaCount above maxReplicaCount", "must be less than or equal to maxReplicaCount",
         put(SO, "spec", "minReplicaCount", 8)),
        ("pollingInterval as a string", "pollingInterval: '30s' is not of type 'integer'",
         put(SO, "spec", "pollingInterval", "30s")),
        ("unknown ScaledObject field", "('maxReplicas' was unexpected)", put(SO, "spec", "maxReplicas", 6)),
        ("HPA behavior typo scaleDwn", "'scaleDwn' was unexpected",
         put(SO, *BEHAVIOR, "scaleDwn", {"stabilizationWindowSeconds": 60})),
        ("ScaledObject metadata typo (ObjectMeta)", "('lables' was unexpected)",
         put(SO, "metadata", "lables", {"app": "x"})),
        ("target Deployment with spec.replicas", "sets spec.replicas", put(CONSUMER, "spec", "replicas", 3)),
        ("TriggerAuthentication unknown parameter", "'user' is not a parameter",
         put(TA, "spec", "secretTargetRef", 3, sasl)),
        ("TriggerAuthentication undeclared Secret key", "reads key 'pass'",
         put(TA, "spec", "secretTargetRef", 2, "key", "pass")),
        ("TriggerAuthentication leaving out the password", "does not read key 'password' of Secret 'keda-kafka-sasl'",
         put(TA, "spec", "secretTargetRef", 2, DELETE)),
        # Strimzi
        ("KafkaTopic without its cluster label", "no label strimzi.io/cluster",
         put(TOPIC, "metadata", "labels", DELETE)),
        ("KafkaTopic labelled with another cluster", "strimzi.io/cluster=other names no Kafka",
         put(TOPIC, "metadata", "labels", STRIMZI_CLUSTER_LABEL, "other")),
        ("KafkaTopic with 0 partitions", "partitions: 0 is less than the minimum of 1",
         put(TOPIC, "spec", "partitions", 0)),
        ("KafkaTopic with more replicas than brokers", "spec.replicas 4 exceeds the 3 brokers",
         put(TOPIC, "spec", "replicas", 4)),
        ("KafkaTopic min.insync.replicas above replicas", "config.min.insync.replicas 4 above spec.replicas 3",
         put(TOPIC, "spec", "config", "min.insync.replicas", 4)),
        ("KafkaTopic apiVersion v1beta1", "apiVersion 'kafka.strimzi.io/v1beta1': the manifests use",
         put(TOPIC, "apiVersion", "kafka.strimzi.io/v1beta1")),
        ("KafkaTopic with an unknown field", "('partition' was unexpected)", put(TOPIC, "spec", "partition", 6)),
        ("fewer partitions than maxReplicaCount", "maxReplicaCount 6 exceeds the 3 partitions",
         put(TOPIC, "spec", "partitions", 3)),
        ("KafkaNodePool role zookeeper", "roles/0: 'zookeeper' is not one of",
         put(POOL, "spec", "roles", ["zookeeper"])),
        ("KafkaNodePool without storage", "'storage' is a required property", put(POOL, "spec", "storage", DELETE)),
        ("KafkaNodePool volume kraftMetadata dedicated", "kraftMetadata: 'dedicated' is not one of ['shared']",
         put(POOL, "spec", "storage", "volumes", 0, "kraftMetadata", "dedicated")),
        ("KafkaNodePool with 4 controllers", "wants an odd number", put(POOL, "spec", "replicas", 4)),
        ("KafkaNodePool for a missing cluster", "label strimzi.io/cluster=other names no Kafka",
         put(POOL, "metadata", "labels", STRIMZI_CLUSTER_LABEL, "other")),
        ("Kafka listener without tls", "listeners/0: 'tls' is a required property",
         put(KAFKA, *LISTENER, "tls", DELETE)),
        ("Kafka listener name too long", "'plaintextlistener' does not match",
         put(KAFKA, *LISTENER, "name", "plaintextlistener")),
        ("Kafka listener type unknown", "type: 'clusterip' is not one of", put(KAFKA, *LISTENER, "type", "clusterip")),
        ("Kafka listener below port 9092", "port: 9000 is less than the minimum of 9092",
         put(KAFKA, *LISTENER, "port", 9000)),
        ("Kafka min.insync.replicas above the RF", "min.insync.replicas 4 above default.replication.factor 3",
         put(KAFKA, "spec", "kafka", "config", "min.insync.replicas", 4)),
        ("Kafka replication factor above the brokers", "offsets.topic.replication.factor 5 exceeds the 3 brokers",
         put(KAFKA, "spec", "kafka", "config", "offsets.topic.replication.factor", 5)),
        ("Kafka with an incomplete zookeeper section", "at spec/zookeeper",
         put(KAFKA, "spec", "zookeeper", {"replicas": 3})),
        ("Kafka without topic operator", "topicOperator is needed", put(KAFKA, "spec", "entityOperator", DELETE)),
        # workloads
        ("consumer runAsNonRoot false", "runAsNonRoot must be true", put(CONSUMER, *CSC, "runAsNonRoot", False)),
        ("consumer as root", "runAsUser must be 10001", put(CONSUMER, *CSC, "runAsUser", 0)),
        ("consumer writable root", "readOnlyRootFilesystem must be true",
         put(CONSUMER, *CSC, "readOnlyRootFilesystem", False)),
        ("consumer escalating", "allowPrivilegeEscalation must be false",
         put(CONSUMER, *CSC, "allowPrivilegeEscalation", True)),
        ("consumer keeps capabilities", "drop must contain ALL",
         put(CONSUMER, *CSC, "capabilities", {"drop": ["NET_RAW"]})),
        ("consumer without seccomp profile", "seccompProfile.type must be RuntimeDefault",
         both(put(CONSUMER, *CSC, "seccompProfile", DELETE),
              put(CONSUMER, *POD, "securityContext", "seccompProfile", DELETE))),
        ("consumer without memory limit", "limits.memory missing",
         put(CONSUMER, *C0, "resources", "limits", "memory", DELETE)),
        ("consumer memory request above limit", "resources.requests.memory is above its limit",
         put(CONSUMER, *C0, "resources", "requests", "memory", "256Mi")),
        ("consumer grace period below the drain", "terminationGracePeriodSeconds 10 must exceed the consumer's drain",
         put(CONSUMER, *POD, "terminationGracePeriodSeconds", 10)),
        ("consumer readiness on /healthz", "readinessProbe asks '/healthz'",
         put(CONSUMER, *C0, "readinessProbe", "httpGet", "path", "/healthz")),
        ("consumer liveness on another port", "livenessProbe port 8080 is not 9464",
         put(CONSUMER, *C0, "livenessProbe", "httpGet", "port", 8080)),
        ("consumer without liveness probe", "livenessProbe must be an httpGet",
         put(CONSUMER, *C0, "livenessProbe", DELETE)),
        ("consumer DATABASE_URL with a password", "DATABASE_URL carries a password",
         env(CONSUMER, "DATABASE_URL", "postgres://orders_app:secret@food-orders-db-rw:5432/food_orders")),
        ("consumer DATABASE_URL as the owner", "DATABASE_URL must name the least-privilege role",
         env(CONSUMER, "DATABASE_URL", "postgres://kafka_user@food-orders-db-rw:5432/food_orders")),
        ("consumer with the owner's URL", "MIGRATION_DATABASE_URL: the owner's credentials belong to the migration Job",
         env(CONSUMER, "MIGRATION_DATABASE_URL", "postgres://kafka_user@food-orders-db-rw/food_orders")),
        ("consumer with a literal password", "POSTGRES_PASSWORD holds a literal password",
         env(CONSUMER, "POSTGRES_PASSWORD", "x")),
        ("consumer password file outside the Secret volume", "is not in a mounted Secret volume",
         env(CONSUMER, "DATABASE_PASSWORD_FILE", "/etc/orders-app/password")),
        ("consumer OFFSET_STORE that Kafka never sees", "OFFSET_STORE=redis", env(CONSUMER, "OFFSET_STORE", "redis")),
        ("consumer topic no KafkaTopic defines", "DLQ_TOPIC=food-orders.dead names no",
         env(CONSUMER, "DLQ_TOPIC", "food-orders.dead")),
        ("consumer METRICS_ADDR on localhost", "METRICS_ADDR must be 0.0.0.0:9464",
         env(CONSUMER, "METRICS_ADDR", "127.0.0.1:9464")),
        ("consumer reading an undeclared Secret", "reads Secret 'orders-app-password'",
         put(CONSUMER, *VOLUME0, "secretName", "orders-app-password")),
        ("consumer Secret files for root only", "group-readable defaultMode",
         put(CONSUMER, *VOLUME0, "defaultMode", 0o400)),
        ("consumer mounting the service account token", "automountServiceAccountToken must be false",
         put(CONSUMER, *POD, "automountServiceAccountToken", True)),
        ("consumer image from elsewhere", "image 'nginx:latest' is not", put(CONSUMER, *C0, "image", "nginx:latest")),
        ("Deployment field typo (Kubernetes schema)", "'containres' was unexpected",
         put(CONSUMER, *POD, "containres", [])),
        ("Deployment selector not matching its pods", "spec.selector does not match",
         put(CONSUMER, "spec", "selector", "matchLabels", "app.kubernetes.io/name", "consumer")),
        ("producer grace period shorter than its flush", "must exceed the producer's final flush",
         put(PRODUCER, *POD, "terminationGracePeriodSeconds", 30)),
        ("migration Job without --migrate-only", "must run order-consumer --migrate-only",
         put(JOB, *C0, "command", ["order-consumer"])),
        ("migration Job without the owner's URL", "the migration Job needs MIGRATION_DATABASE_URL",
         env(JOB, "MIGRATION_DATABASE_URL", DELETE)),
        ("OFFSET_STORE differing in the Job", "OFFSET_STORE differs between the consumers and the migration Job",
         env(CONSUMER, "OFFSET_STORE", "postgres")),
        ("migration Job restartPolicy Always", "restartPolicy must be Never or OnFailure",
         put(JOB, *POD, "restartPolicy", "Always")),
        ("PDB selecting nothing", "PodDisruptionBudget/order-consumer: its selector matches no Deployment",
         put("PodDisruptionBudget/order-consumer", "spec", "selector", "matchLabels", "app.kubernetes.io/name", "x")),
        ("no PodDisruptionBudget for the consumers", "the consumers have no PodDisruptionBudget",
         lambda b: b.applied.remove(b.get("PodDisruptionBudget", "order-consumer"))),
        ("Service selecting nothing", "Service/order-consumer: its selector matches no Deployment",
         put("Service/order-consumer", "spec", "selector", "app.kubernetes.io/name", "x")),
        # layout and secrets
        ("a manifest left out of kustomization.yaml", "does not list pdb.yaml", lambda b: b.listed.remove("pdb.yaml")),
        ("secret.example.yaml in kustomization.yaml", "lists secret.example.yaml",
         lambda b: b.listed.append(SECRET_EXAMPLE)),
        ("a Secret among the applied manifests", "a Secret among the applied manifests",
         extra("Secret", "v1", stringData={"password": "p"})),
        ("a real-looking value in secret.example.yaml", "is not a placeholder",
         lambda b: b.examples[0].data["stringData"].update(password="orders_app_pass")),
        ("a custom resource no rule of ours knows", "no check for keda.sh/v1alpha1 ScaledJob",
         extra("ScaledJob", "keda.sh/v1alpha1", spec={})),
    ]
    # fmt: on


def self_test(bundle: Bundle, schemas: Schemas | None, quiet: bool = False) -> int:
    base, _ = check(bundle, schemas)
    if base.items:
        print("self-test: the unmodified manifests already fail; fix those first:")
        for item in base.items:
            print(f"  {item}")
        return 1
    passed = failed = 0
    for description, expected, mutate in mutations():
        broken = copy.deepcopy(bundle)
        mutate(broken)
        found, _ = check(broken, schemas)
        hit = next((item for item in found.items if expected in item), None)
        if hit is not None:
            passed += 1
            if not quiet:
                print(f"  caught: {description}: {hit}")
        else:
            failed += 1
            print(f"  MISSED: {description}: no finding says {expected!r}; found: {found.items or 'nothing'}")
    print(f"self-test: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The checks are described in this file's header and docs/kubernetes.md.",
    )
    parser.add_argument("--dir", type=Path, default=HERE, help="folder with kustomization.yaml (default: %(default)s)")
    parser.add_argument(
        "--kubernetes-version",
        default=KUBERNETES_VERSION,
        help="Kubernetes version of the schemas (default: %(default)s)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=published.CACHE,
        help="where the published schemas are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="first download and derive the KEDA schemas --cache lacks (network), and with a Java 21+ check the "
        "vendored Strimzi schemas against a generation of them (published.py)",
    )
    parser.add_argument(
        "--no-schemas",
        action="store_true",
        help="skip the published schemas: only the repository's own rules",
    )
    parser.add_argument(
        "--self-test", action="store_true", help="break copies of the manifests in known ways and check each is caught"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="self-test: print only the mutations that were missed and the summary",
    )
    args = parser.parse_args(argv)
    if not (args.dir / KUSTOMIZATION).is_file():
        print(f"error: no {KUSTOMIZATION} in {args.dir}", file=sys.stderr)
        return 2
    if args.fetch and not args.no_schemas:
        published.fetch(args.cache)
    schemas = None
    if not args.no_schemas:
        try:
            schemas = Schemas(args.kubernetes_version, args.cache)
        except (ImportError, FileNotFoundError) as e:
            print(f"error: {e}; scripts/k8s-validate.sh installs and fetches (or pass --no-schemas)", file=sys.stderr)
            return 2
    bundle = load(args.dir)
    if args.self_test:
        return self_test(bundle, schemas, args.quiet)
    found, validated = check(bundle, schemas)
    for item in found.items:
        print(f"{args.dir.name}/{item}")
    kinds = sorted({d.kind for d in bundle.applied})
    schema_note = (
        f"{validated} against published schemas (Kubernetes {args.kubernetes_version}, {published.KEDA_LABEL}, "
        f"{published.STRIMZI_LABEL}; strict)"
        if validated
        else "published schemas skipped"
    )
    print(
        f"validate: {len(bundle.applied)} documents ({', '.join(kinds)}), {len(bundle.examples)} example Secrets; "
        f"{schema_note}; {len(found.items)} finding(s)"
    )
    return 1 if found.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
