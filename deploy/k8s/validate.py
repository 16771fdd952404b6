#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in deploy/k8s/, without a cluster.

What it checks, in order:

1. Layout: kustomization.yaml lists every manifest of the folder and nothing else; secret.example.yaml is not
   listed (Secrets are created with kubectl, never applied from the repository).
2. Schemas: every core resource (Namespace, Deployment, Job, Service, PodDisruptionBudget, NetworkPolicy, and the
   example Secrets) against the OpenAPI schemas of Kubernetes KUBERNETES_VERSION, strict (an unknown field fails),
   with kubernetes-validate. So is the HorizontalPodAutoscaler that KEDA would create from the ScaledObject, which
   checks `advanced.horizontalPodAutoscalerConfig.behavior` against the real autoscaling/v2 schema.
3. The repository's rules for its own pods: non-root uid 10001, read-only root filesystem, no privilege
   escalation, capabilities dropped, RuntimeDefault seccomp, requests and limits, probes on the metrics port, a
   grace period longer than the drain, passwords only from Secret files, the owner's credentials in the migration
   Job only, every Secret and key referenced declared in secret.example.yaml with placeholder values.
4. KEDA (ScaledObject, TriggerAuthentication) and Strimzi (Kafka, KafkaNodePool, KafkaTopic), which
   kubernetes-validate does not know, from their documented fields: apiVersion and kind, required and known
   fields, the Kafka trigger's metadata keys and values, and what the resources say about each other (the scale
   target exists, maxReplicaCount <= the topic's partitions, the topic is labelled with its cluster, the
   consumer's group, topic and bootstrap servers are the trigger's ...).

`--self-test` mutates copies of the good manifests in ways that must fail and checks that each one is caught.
Exit status: 0 when nothing was found, 1 otherwise, 2 on a usage error. scripts/k8s-validate.sh installs the
pinned kubernetes-validate into .local/k8s-venv and runs this, the self-test and kube-score.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

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

KEDA_API = "keda.sh/v1alpha1"
# Strimzi serves v1beta2 up to 0.51 and v1 from 0.49 on (1.0 serves v1 only); the fields checked here are the same.
STRIMZI_APIS = {"kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"}
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"

# ------------------------------------------------------------------------------------------ KEDA's documented fields
# keda-docs: reference/scaledobject-spec.md, scalers/apache-kafka.md; kedacore/keda: the ScaledObject CRD.
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
SCALE_TARGET_REF = {"apiVersion", "kind", "name", "envSourceContainerName"}
ADVANCED = {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"}
HPA_CONFIG = {"name", "behavior"}
FALLBACK = {"failureThreshold", "replicas", "behavior"}
TRIGGER = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
METRIC_TYPES = {"AverageValue", "Value", "Utilization"}
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "consumerGroupFromEnv",
    "topic",
    "topicFromEnv",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "version",
    "partitionLimitation",
    "sasl",
    "saslTokenProvider",
    "tls",
    "unsafeSsl",
    "awsRegion",
}
KAFKA_TRIGGER_BOOLEANS = {
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "unsafeSsl",
}
KAFKA_SASL_MODES = {"plaintext", "scram_sha256", "scram_sha512", "gssapi", "oauthbearer", "none"}
# The parameters a TriggerAuthentication may give the Kafka scaler.
KAFKA_AUTH_PARAMETERS = {
    "sasl",
    "saslTokenProvider",
    "username",
    "password",
    "keytab",
    "realm",
    "kerberosConfig",
    "kerberosServiceName",
    "kerberosDisableFAST",
    "oauthTokenEndpointUri",
    "scopes",
    "oauthExtensions",
    "tls",
    "ca",
    "cert",
    "key",
    "keyPassword",
    "awsRegion",
    "awsRoleArn",
    "awsAccessKeyID",
    "awsSecretAccessKey",
    "unsafeSsl",
}
TRIGGER_AUTH_SPEC = {
    "podIdentity",
    "secretTargetRef",
    "env",
    "configMapTargetRef",
    "hashiCorpVault",
    "azureKeyVault",
    "awsSecretManager",
    "gcpSecretManager",
    "boundServiceAccountToken",
}

# --------------------------------------------------------------------------------------- Strimzi's documented fields
# strimzi-kafka-operator: the Kafka, KafkaNodePool and KafkaTopic CRDs and their API reference.
KAFKA_SPEC = {
    "kafka",
    "entityOperator",
    "clusterCa",
    "clientsCa",
    "cruiseControl",
    "kafkaExporter",
    "maintenanceTimeWindows",
}
KAFKA_CLUSTER_SPEC = {
    "version",
    "metadataVersion",
    "replicas",
    "image",
    "listeners",
    "config",
    "storage",
    "authorization",
    "rack",
    "brokerRackInitImage",
    "livenessProbe",
    "readinessProbe",
    "jvmOptions",
    "jmxOptions",
    "resources",
    "metricsConfig",
    "logging",
    "template",
    "tieredStorage",
    "quotas",
}
LISTENER = {"name", "port", "type", "tls", "authentication", "configuration", "networkPolicyPeers"}
LISTENER_TYPES = {"internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"}
LISTENER_AUTH_TYPES = {"tls", "scram-sha-512", "oauth", "custom"}
# Listener ports: 9092 or higher, except the ones Strimzi uses for Prometheus metrics and JMX (its API reference,
# GenericKafkaListener.port); the control plane and replication listeners sit below 9092.
LISTENER_RESERVED_PORTS = {9404, 9999}
# Configuration Strimzi writes itself and refuses in spec.kafka.config (a subset of its forbidden prefixes).
KAFKA_FORBIDDEN_CONFIG = (
    "listeners",
    "advertised.",
    "broker.",
    "listener.",
    "host.name",
    "port",
    "inter.broker.listener.name",
    "sasl.",
    "ssl.",
    "security.",
    "password.",
    "log.dir",
    "zookeeper.",
    "authorizer.",
    "super.user",
    "node.id",
    "process.roles",
    "controller.",
    "metadata.log.dir",
)
NODE_POOL_SPEC = {"replicas", "roles", "storage", "resources", "jvmOptions", "template"}
NODE_POOL_ROLES = {"controller", "broker"}
STORAGE_TYPES = {"ephemeral", "persistent-claim", "jbod"}
JBOD_VOLUME_TYPES = {"ephemeral", "persistent-claim"}
TOPIC_SPEC = {"partitions", "replicas", "config", "topicName"}
TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
LISTENER_NAME = re.compile(r"^[a-z0-9]{1,11}$")

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


def unknown_keys(f: Findings, doc: Doc, what: str, value: Any, known: set[str]) -> None:
    if not isinstance(value, dict):
        f.add(doc, f"{what} must be a mapping")
        return
    for key in sorted(set(value) - known):
        f.add(doc, f"{what}: unknown field {key!r} (known: {', '.join(sorted(known))})")


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


def synthesized_hpa(doc: Doc) -> dict[str, Any]:
    """The autoscaling/v2 HorizontalPodAutoscaler KEDA creates for a ScaledObject (keda-hpa-NAME), as far as the
    ScaledObject decides it: target, bounds, behaviour, one external metric per trigger."""
    spec = doc.data.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": target.get("apiVersion", "apps/v1"),
            "kind": target.get("kind", "Deployment"),
            "name": target.get("name"),
        },
        "minReplicas": max(1, spec.get("minReplicaCount", 0) if is_int(spec.get("minReplicaCount", 0)) else 1),
        "maxReplicas": spec.get("maxReplicaCount", 100),
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": f"s{i}-kafka"},
                    "target": {"type": "AverageValue", "averageValue": str(dig(t, "metadata", "lagThreshold"))},
                },
            }
            for i, t in enumerate(spec.get("triggers") or [])
        ],
    }
    behavior = dig(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior")
    if behavior is not None:
        hpa_spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"keda-hpa-{doc.name}"},
        "spec": hpa_spec,
    }


def is_core(doc: Doc) -> bool:
    group = doc.api.split("/")[0] if "/" in doc.api else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def check_schemas(bundle: Bundle, f: Findings, version: str) -> int:
    """Validates the core resources against Kubernetes' schemas; returns how many were validated."""
    try:
        import kubernetes_validate  # noqa: PLC0415 (installed by scripts/k8s-validate.sh)
    except ImportError:
        f.add("schemas", "kubernetes-validate is not installed: run scripts/k8s-validate.sh, or pass --no-schemas")
        return 0
    docs = [d for d in bundle.applied + bundle.examples if is_core(d)]
    docs += [Doc(d.file, synthesized_hpa(d)) for d in bundle.all("ScaledObject")]
    for doc in docs:
        key = (version, json.dumps(doc.data, sort_keys=True, default=str))
        if key not in _SCHEMA_RESULTS:
            try:
                kubernetes_validate.validate(doc.data, version, strict=True)
                _SCHEMA_RESULTS[key] = None
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path) or "(top)"
                _SCHEMA_RESULTS[key] = f"Kubernetes {version} schema, at {path}: {e.message}"
            except kubernetes_validate.SchemaNotFoundError:
                _SCHEMA_RESULTS[key] = f"no Kubernetes {version} schema for {doc.api} {doc.kind}"
        if _SCHEMA_RESULTS[key] is not None:
            f.add(doc, _SCHEMA_RESULTS[key])
    return len(docs)


# A document's schema result, by its content: the self-test validates the same unchanged documents many times.
_SCHEMA_RESULTS: dict[tuple[str, str], str | None] = {}


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
    if doc.api != KEDA_API:
        f.add(doc, f"apiVersion {doc.api!r}; KEDA serves ScaledObject as {KEDA_API}")
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        f.add(doc, "spec is required")
        return
    unknown_keys(f, doc, "spec", spec, SCALED_OBJECT_SPEC)
    ints = {
        "pollingInterval": 1,
        "cooldownPeriod": 0,
        "initialCooldownPeriod": 0,
        "minReplicaCount": 0,
        "maxReplicaCount": 1,
        "idleReplicaCount": 0,
    }
    for key, least in ints.items():
        if key in spec and (not is_int(spec[key]) or spec[key] < least):
            f.add(doc, f"spec.{key} must be an integer >= {least}, got {spec[key]!r}")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if is_int(low) and is_int(high) and low > high:
        f.add(doc, f"minReplicaCount {low} is above maxReplicaCount {high}")
    if not is_int(low) or low < 1:
        f.add(
            doc,
            "minReplicaCount must be at least 1: a group scaled to 0 commits nothing, and KEDA's Kafka "
            "scaler then may never see lag to scale it up again (the scaler's documented edge case)",
        )
    if "idleReplicaCount" in spec and (spec["idleReplicaCount"] != 0 or not is_int(low) or low <= 0):
        f.add(doc, "idleReplicaCount may only be 0, and below minReplicaCount")
    if "fallback" in spec:
        unknown_keys(f, doc, "spec.fallback", spec["fallback"], FALLBACK)
        for key in ("failureThreshold", "replicas"):
            if not is_int(dig(spec, "fallback", key)):
                f.add(doc, f"spec.fallback.{key} is required (an integer) when fallback is set")
    if "advanced" in spec:
        unknown_keys(f, doc, "spec.advanced", spec["advanced"], ADVANCED)
        hpa = dig(spec, "advanced", "horizontalPodAutoscalerConfig")
        if hpa is not None:
            unknown_keys(f, doc, "spec.advanced.horizontalPodAutoscalerConfig", hpa, HPA_CONFIG)
            for direction in ("scaleUp", "scaleDown"):
                window = dig(hpa, "behavior", direction, "stabilizationWindowSeconds")
                if window is not None and (not is_int(window) or not 0 <= window <= 3600):
                    f.add(doc, f"behavior.{direction}.stabilizationWindowSeconds must be 0-3600, got {window!r}")
    target = spec.get("scaleTargetRef")
    deployment = None
    if not isinstance(target, dict) or not target.get("name"):
        f.add(doc, "spec.scaleTargetRef.name is required")
    else:
        unknown_keys(f, doc, "spec.scaleTargetRef", target, SCALE_TARGET_REF)
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
                "sets spec.replicas although a ScaledObject scales it: every apply would undo the " "HPA's count",
            )
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        f.add(doc, "spec.triggers is required and must not be empty")
        return
    for i, trigger in enumerate(triggers):
        check_trigger(bundle, doc, f"spec.triggers[{i}]", trigger, spec, deployment, f)


def check_trigger(
    bundle: Bundle, doc: Doc, at: str, trigger: Any, spec: dict[str, Any], deployment: Doc | None, f: Findings
) -> None:
    if not isinstance(trigger, dict):
        f.add(doc, f"{at} must be a mapping")
        return
    unknown_keys(f, doc, at, trigger, TRIGGER)
    if trigger.get("type") != "kafka":
        f.add(doc, f"{at}.type {trigger.get('type')!r}: only KEDA's Apache Kafka scaler (type kafka) is checked here")
        return
    if trigger.get("metricType", "AverageValue") not in METRIC_TYPES:
        f.add(doc, f"{at}.metricType must be one of {sorted(METRIC_TYPES)}")
    meta = trigger.get("metadata")
    if not isinstance(meta, dict):
        f.add(doc, f"{at}.metadata is required")
        return
    for key, value in meta.items():
        if not isinstance(value, str):
            f.add(
                doc,
                f"{at}.metadata.{key}: {value!r} must be a string (the CRD's metadata is a map of strings); "
                f"quote it",
            )
    meta = {k: str(v) for k, v in meta.items()}
    for key in sorted(set(meta) - KAFKA_TRIGGER_KEYS):
        f.add(doc, f"{at}.metadata: unknown key {key!r} for the kafka scaler")
    for key in ("bootstrapServers", "consumerGroup"):
        if key not in meta and f"{key}FromEnv" not in meta:
            f.add(doc, f"{at}.metadata.{key} is required")
    if "topic" not in meta:
        f.add(
            doc,
            f"{at}.metadata.topic is required here: without it KEDA sums the lag of every topic the group "
            "ever committed, and the replica cap is no longer food-orders' partitions",
        )
    if "lagThreshold" in meta and not re.fullmatch(r"[1-9][0-9]*", meta["lagThreshold"]):
        f.add(doc, f"{at}.metadata.lagThreshold {meta['lagThreshold']!r} must be a positive integer")
    if "activationLagThreshold" in meta and not re.fullmatch(r"0|[1-9][0-9]*", meta["activationLagThreshold"]):
        f.add(doc, f"{at}.metadata.activationLagThreshold {meta['activationLagThreshold']!r} must be an integer >= 0")
    if meta.get("offsetResetPolicy", "latest") not in ("latest", "earliest"):
        f.add(doc, f"{at}.metadata.offsetResetPolicy must be latest or earliest")
    for key in sorted(KAFKA_TRIGGER_BOOLEANS & set(meta)):
        if meta[key] not in ("true", "false"):
            f.add(doc, f'{at}.metadata.{key} {meta[key]!r} must be "true" or "false"')
    if meta.get("allowIdleConsumers") == "true" and meta.get("limitToPartitionsWithLag") == "true":
        f.add(doc, f"{at}.metadata: allowIdleConsumers and limitToPartitionsWithLag cannot both be true")
    if meta.get("sasl", "none") not in KAFKA_SASL_MODES:
        f.add(doc, f"{at}.metadata.sasl must be one of {sorted(KAFKA_SASL_MODES)}")
    if meta.get("tls", "disable") not in ("enable", "disable"):
        f.add(doc, f"{at}.metadata.tls must be enable or disable")
    if "partitionLimitation" in meta and not re.fullmatch(
        r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", meta["partitionLimitation"]
    ):
        f.add(doc, f"{at}.metadata.partitionLimitation must be a list of partitions and ranges such as 1,2,10-20")
    ref = trigger.get("authenticationRef")
    if ref is not None:
        kind = (ref or {}).get("kind", "TriggerAuthentication")
        if bundle.get(kind, (ref or {}).get("name")) is None:
            f.add(
                doc,
                f"{at}.authenticationRef names {kind} {(ref or {}).get('name')!r}, which the manifests do "
                "not define",
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
    if doc.api != KEDA_API:
        f.add(doc, f"apiVersion {doc.api!r}; KEDA serves TriggerAuthentication as {KEDA_API}")
    spec = doc.data.get("spec")
    if not isinstance(spec, dict) or not spec:
        f.add(doc, "spec is required")
        return
    unknown_keys(f, doc, "spec", spec, TRIGGER_AUTH_SPEC)
    secrets = declared_secrets(bundle)
    params: set[str] = set()
    for i, ref in enumerate(spec.get("secretTargetRef") or []):
        for key in ("parameter", "name", "key"):
            if not (ref or {}).get(key):
                f.add(doc, f"spec.secretTargetRef[{i}].{key} is required")
        param = (ref or {}).get("parameter")
        params.add(param)
        if param and param not in KAFKA_AUTH_PARAMETERS:
            f.add(doc, f"spec.secretTargetRef[{i}]: {param!r} is not a parameter of the kafka scaler")
        name, key = (ref or {}).get("name"), (ref or {}).get("key")
        if name not in secrets:
            f.add(doc, f"spec.secretTargetRef[{i}] reads Secret {name!r}, which {SECRET_EXAMPLE} does not declare")
        elif key not in secrets[name]:
            f.add(
                doc,
                f"spec.secretTargetRef[{i}] reads key {key!r} of Secret {name!r}, which {SECRET_EXAMPLE} "
                "does not declare",
            )
    if ("username" in params) != ("password" in params):
        f.add(doc, "SASL needs both username and password")
    if ("cert" in params) != ("key" in params):
        f.add(doc, "cert and key go together")


# ----------------------------------------------------------------------------------------------------------- Strimzi


def check_strimzi_api(doc: Doc, f: Findings) -> None:
    if doc.api not in STRIMZI_APIS:
        f.add(doc, f"apiVersion {doc.api!r}; Strimzi serves {doc.kind} as {' or '.join(sorted(STRIMZI_APIS))}")


def check_kafka(bundle: Bundle, doc: Doc, f: Findings) -> None:
    check_strimzi_api(doc, f)
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        f.add(doc, "spec is required")
        return
    if "zookeeper" in spec:
        f.add(doc, "spec.zookeeper: ZooKeeper-based clusters are gone (Strimzi 0.46 and Kafka 4 run KRaft only)")
    unknown_keys(f, doc, "spec", {k: v for k, v in spec.items() if k != "zookeeper"}, KAFKA_SPEC)
    kafka = spec.get("kafka")
    if not isinstance(kafka, dict):
        f.add(doc, "spec.kafka is required")
        return
    unknown_keys(f, doc, "spec.kafka", kafka, KAFKA_CLUSTER_SPEC)
    pools = [
        p for p in bundle.all("KafkaNodePool") if dig(p.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL) == doc.name
    ]
    if not pools:
        f.add(doc, "no KafkaNodePool is labelled for this cluster: KRaft clusters get their nodes from node pools")
    for key in ("replicas", "storage"):
        if key in kafka:
            f.add(doc, f"spec.kafka.{key} is ignored with node pools; set it in the KafkaNodePool")
    annotations = dig(doc.data, "metadata", "annotations", default={})
    if doc.api == "kafka.strimzi.io/v1beta2":
        for key in ("strimzi.io/kraft", "strimzi.io/node-pools"):
            if annotations.get(key) != "enabled":
                f.add(doc, f"annotation {key}: enabled is required by Strimzi 0.46 and 0.47 (ignored from 0.48)")
    if "version" in kafka and not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", str(kafka["version"])):
        f.add(doc, f"spec.kafka.version {kafka['version']!r} is not a Kafka version")
    if "metadataVersion" in kafka and "version" in kafka:
        major_minor = ".".join(str(kafka["version"]).split(".")[:2])
        if not str(kafka["metadataVersion"]).startswith(major_minor):
            f.add(doc, f"metadataVersion {kafka['metadataVersion']!r} does not belong to Kafka {kafka['version']}")
    listeners = kafka.get("listeners")
    if not isinstance(listeners, list) or not listeners:
        f.add(doc, "spec.kafka.listeners is required and must not be empty")
        listeners = []
    names: set[Any] = set()
    ports: set[Any] = set()
    for i, listener in enumerate(listeners):
        at = f"spec.kafka.listeners[{i}]"
        if not isinstance(listener, dict):
            f.add(doc, f"{at} must be a mapping")
            continue
        unknown_keys(f, doc, at, listener, LISTENER)
        for key in ("name", "port", "type", "tls"):
            if key not in listener:
                f.add(doc, f"{at}.{key} is required")
        if "name" in listener and not LISTENER_NAME.fullmatch(str(listener["name"])):
            f.add(doc, f"{at}.name {listener['name']!r} must be 1-11 lower-case letters or digits")
        port = listener.get("port")
        if "port" in listener and (not is_int(port) or port < 9092 or port in LISTENER_RESERVED_PORTS):
            f.add(
                doc,
                f"{at}.port {port!r} must be an integer >= 9092, not one Strimzi keeps "
                f"({sorted(LISTENER_RESERVED_PORTS)})",
            )
        if "type" in listener and listener["type"] not in LISTENER_TYPES:
            f.add(doc, f"{at}.type must be one of {sorted(LISTENER_TYPES)}")
        if "tls" in listener and not isinstance(listener["tls"], bool):
            f.add(doc, f"{at}.tls must be true or false")
        auth = listener.get("authentication")
        if auth is not None and dig(auth, "type") not in LISTENER_AUTH_TYPES:
            f.add(doc, f"{at}.authentication.type must be one of {sorted(LISTENER_AUTH_TYPES)}")
        if listener.get("name") in names:
            f.add(doc, f"{at}: listener name {listener.get('name')!r} used twice")
        if port in ports:
            f.add(doc, f"{at}: port {port} used twice")
        names.add(listener.get("name"))
        ports.add(port)
    config = kafka.get("config") or {}
    for key in config:
        if any(key == p or (p.endswith(".") and key.startswith(p)) for p in KAFKA_FORBIDDEN_CONFIG):
            f.add(doc, f"spec.kafka.config.{key}: Strimzi sets this itself and rejects it")
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


def check_storage(doc: Doc, at: str, storage: Any, f: Findings) -> None:
    if not isinstance(storage, dict):
        f.add(doc, f"{at} is required")
        return
    kind = storage.get("type")
    if kind not in STORAGE_TYPES:
        f.add(doc, f"{at}.type must be one of {sorted(STORAGE_TYPES)}")
    volumes = (storage.get("volumes") or []) if kind == "jbod" else [storage]
    if kind == "jbod" and not volumes:
        f.add(doc, f"{at}.volumes: jbod needs at least one volume")
    ids: set[Any] = set()
    metadata = 0
    for i, vol in enumerate(volumes):
        vat = f"{at}.volumes[{i}]" if kind == "jbod" else at
        vtype = (vol or {}).get("type")
        if kind == "jbod":
            if vtype not in JBOD_VOLUME_TYPES:
                f.add(doc, f"{vat}.type must be one of {sorted(JBOD_VOLUME_TYPES)}")
            if not is_int((vol or {}).get("id")) or vol["id"] in ids:
                f.add(doc, f"{vat}.id must be a unique integer")
            ids.add((vol or {}).get("id"))
        if vtype == "persistent-claim" and quantity((vol or {}).get("size")) is None:
            f.add(doc, f"{vat}.size is required for persistent-claim (a quantity such as 20Gi)")
        if (vol or {}).get("kraftMetadata") is not None:
            metadata += 1
            if vol["kraftMetadata"] != "shared":
                f.add(doc, f"{vat}.kraftMetadata may only be shared")
    if metadata > 1:
        f.add(doc, f"{at}: at most one volume holds the KRaft metadata")


def check_node_pool(bundle: Bundle, doc: Doc, f: Findings) -> None:
    check_strimzi_api(doc, f)
    cluster = dig(doc.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL)
    if cluster is None or bundle.get("Kafka", cluster) is None:
        f.add(doc, f"label {STRIMZI_CLUSTER_LABEL} must name a Kafka of the manifests, got {cluster!r}")
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        f.add(doc, "spec is required")
        return
    unknown_keys(f, doc, "spec", spec, NODE_POOL_SPEC)
    if not is_int(spec.get("replicas")) or spec["replicas"] < 0:
        f.add(doc, "spec.replicas is required (an integer >= 0)")
    roles = spec.get("roles")
    if not isinstance(roles, list) or not roles or set(roles) - NODE_POOL_ROLES:
        f.add(doc, f"spec.roles is required: one or both of {sorted(NODE_POOL_ROLES)}")
    elif "controller" in roles and is_int(spec.get("replicas")) and spec["replicas"] % 2 == 0:
        f.add(doc, f"{spec['replicas']} controllers: a KRaft quorum wants an odd number")
    check_storage(doc, "spec.storage", spec.get("storage"), f)


def check_topic(bundle: Bundle, doc: Doc, f: Findings) -> None:
    check_strimzi_api(doc, f)
    cluster = dig(doc.data, "metadata", "labels", STRIMZI_CLUSTER_LABEL)
    if cluster is None:
        f.add(doc, f"no label {STRIMZI_CLUSTER_LABEL}: the topic operator ignores a KafkaTopic without it")
    elif bundle.get("Kafka", cluster) is None:
        f.add(doc, f"label {STRIMZI_CLUSTER_LABEL}={cluster} names no Kafka of the manifests")
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        f.add(doc, "spec is required")
        return
    unknown_keys(f, doc, "spec", spec, TOPIC_SPEC)
    name = spec.get("topicName", doc.name)
    if not TOPIC_NAME.fullmatch(str(name)) or name in (".", ".."):
        f.add(doc, f"topic name {name!r} is not a legal Kafka topic name")
    partitions, replicas = spec.get("partitions"), spec.get("replicas")
    if not is_int(partitions) or partitions < 1:
        f.add(doc, f"spec.partitions must be an integer >= 1, got {partitions!r}")
    if not is_int(replicas) or not 1 <= replicas <= 32767:
        f.add(doc, f"spec.replicas must be an integer from 1 to 32767, got {replicas!r}")
    elif cluster is not None and replicas > brokers_of(bundle, cluster):
        f.add(doc, f"spec.replicas {replicas} exceeds the {brokers_of(bundle, cluster)} brokers of {cluster!r}")
    isr = dig(spec, "config", "min.insync.replicas")
    if is_int(isr) and is_int(replicas) and isr > replicas:
        f.add(doc, f"config.min.insync.replicas {isr} above spec.replicas {replicas}: no write could succeed")


CUSTOM_CHECKS: dict[str, Callable[[Bundle, Doc, Findings], None]] = {
    "ScaledObject": check_scaled_object,
    "TriggerAuthentication": check_trigger_auth,
    "Kafka": check_kafka,
    "KafkaNodePool": check_node_pool,
    "KafkaTopic": check_topic,
}


def check_custom(bundle: Bundle, f: Findings) -> None:
    for doc in bundle.applied:
        if is_core(doc):
            continue
        check = CUSTOM_CHECKS.get(doc.kind)
        if check is None:
            f.add(doc, f"no check for {doc.api} {doc.kind}: add one to deploy/k8s/validate.py")
        else:
            check(bundle, doc, f)
    if not bundle.all("ScaledObject"):
        f.add("manifests", "no ScaledObject")
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic"):
        if not bundle.all(kind):
            f.add("manifests", f"no {kind}")


def check(bundle: Bundle, version: str, schemas: bool = True) -> tuple[Findings, int]:
    f = Findings()
    check_layout(bundle, f)
    validated = check_schemas(bundle, f, version) if schemas else 0
    check_secrets(bundle, f)
    check_workloads(bundle, f)
    check_custom(bundle, f)
    return f, validated


# --------------------------------------------------------------------------------------------------------- self-test


def mutations() -> list[tuple[str, str, Callable[[Bundle], None]]]:
    """Ways to break the good manifests: what each does, a piece of the finding it must cause, and the change."""

    def data(b: Bundle, kind: str, name: str) -> dict[str, Any]:
        doc = b.get(kind, name)
        assert doc is not None, f"the self-test expects {kind}/{name}"
        return doc.data

    def so(b: Bundle) -> dict[str, Any]:
        return data(b, "ScaledObject", "order-consumer")

    def meta(b: Bundle) -> dict[str, Any]:
        return so(b)["spec"]["triggers"][0]["metadata"]

    def consumer(b: Bundle) -> dict[str, Any]:
        return data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"]["containers"][0]

    def consumer_env(b: Bundle, name: str, value: Any) -> None:
        env = consumer(b)["env"]
        env[:] = [e for e in env if e["name"] != name] + ([{"name": name, "value": value}] if value is not None else [])

    def job(b: Bundle) -> dict[str, Any]:
        return data(b, "Job", "food-orders-migrate")["spec"]["template"]["spec"]

    def kafka(b: Bundle) -> dict[str, Any]:
        return data(b, "Kafka", "food-orders")["spec"]

    def topic(b: Bundle) -> dict[str, Any]:
        return data(b, "KafkaTopic", "food-orders")

    def pool(b: Bundle) -> dict[str, Any]:
        return data(b, "KafkaNodePool", "dual-role")

    def setter(getter: Callable[[Bundle], dict[str, Any]], key: str, value: Any) -> Callable[[Bundle], None]:
        def mutate(b: Bundle) -> None:
            target = getter(b)
            if value is DELETE:
                target.pop(key, None)
            else:
                target[key] = value

        return mutate

    def csc(b: Bundle) -> dict[str, Any]:
        return consumer(b)["securityContext"]

    return [
        # KEDA
        (
            "ScaledObject apiVersion keda.sh/v1beta1",
            "KEDA serves ScaledObject as",
            lambda b: so(b).update(apiVersion="keda.sh/v1beta1"),
        ),
        ("unknown trigger key lagTreshold", "unknown key 'lagTreshold'", lambda b: meta(b).update(lagTreshold="100")),
        ("trigger without consumerGroup", "metadata.consumerGroup is required", setter(meta, "consumerGroup", DELETE)),
        (
            "trigger without bootstrapServers",
            "metadata.bootstrapServers is required",
            setter(meta, "bootstrapServers", DELETE),
        ),
        ("lagThreshold 0", "lagThreshold '0' must be a positive integer", setter(meta, "lagThreshold", "0")),
        ("lagThreshold negative", "lagThreshold '-5' must be a positive integer", setter(meta, "lagThreshold", "-5")),
        (
            "lagThreshold not a number",
            "lagThreshold 'ten' must be a positive integer",
            setter(meta, "lagThreshold", "ten"),
        ),
        (
            "lagThreshold with decimals",
            "lagThreshold '1.5' must be a positive integer",
            setter(meta, "lagThreshold", "1.5"),
        ),
        ("lagThreshold unquoted", "lagThreshold: 100 must be a string", setter(meta, "lagThreshold", 100)),
        (
            "activationLagThreshold negative",
            "activationLagThreshold '-1' must be an integer >= 0",
            setter(meta, "activationLagThreshold", "-1"),
        ),
        ("allowIdleConsumers yes", "allowIdleConsumers 'yes' must be", setter(meta, "allowIdleConsumers", "yes")),
        (
            "excludePersistentLag unquoted boolean",
            "excludePersistentLag: False must be a string",
            setter(meta, "excludePersistentLag", False),
        ),
        (
            "offsetResetPolicy newest",
            "offsetResetPolicy must be latest or earliest",
            setter(meta, "offsetResetPolicy", "newest"),
        ),
        (
            "allowIdleConsumers and limitToPartitionsWithLag both true",
            "cannot both be true",
            lambda b: meta(b).update(allowIdleConsumers="true", limitToPartitionsWithLag="true"),
        ),
        (
            "sasl mode scram-sha-512 (Strimzi's spelling, not KEDA's)",
            "metadata.sasl must be one of",
            setter(meta, "sasl", "scram-sha-512"),
        ),
        ("trigger type kafka-go", "type 'kafka-go'", lambda b: so(b)["spec"]["triggers"][0].update(type="kafka-go")),
        (
            "consumerGroup differs from the consumers'",
            "differs from the consumers' CONSUMER_GROUP",
            setter(meta, "consumerGroup", "other-group"),
        ),
        (
            "trigger topic that no KafkaTopic defines",
            "topic 'food-orders-v2' names no KafkaTopic",
            setter(meta, "topic", "food-orders-v2"),
        ),
        ("trigger without topic", "metadata.topic is required", setter(meta, "topic", DELETE)),
        (
            "bootstrapServers naming another cluster",
            "names Kafka cluster 'other'",
            setter(meta, "bootstrapServers", "other-kafka-bootstrap:9092"),
        ),
        (
            "bootstrapServers on a port without listener",
            "has no listener on port 9094",
            setter(meta, "bootstrapServers", "food-orders-kafka-bootstrap:9094"),
        ),
        (
            "authenticationRef to a missing TriggerAuthentication",
            "authenticationRef names TriggerAuthentication 'nope'",
            lambda b: so(b)["spec"]["triggers"][0].update(authenticationRef={"name": "nope"}),
        ),
        (
            "scaleTargetRef naming a missing Deployment",
            "scaleTargetRef names Deployment 'order-consumers'",
            lambda b: so(b)["spec"]["scaleTargetRef"].update(name="order-consumers"),
        ),
        (
            "scaleTargetRef to a StatefulSet",
            "apps/v1 StatefulSet",
            lambda b: so(b)["spec"]["scaleTargetRef"].update(kind="StatefulSet"),
        ),
        (
            "scaleTargetRef with a typo'd field",
            "unknown field 'nmae'",
            lambda b: so(b)["spec"]["scaleTargetRef"].update(nmae="x"),
        ),
        (
            "maxReplicaCount above the partitions",
            "maxReplicaCount 7 exceeds the 6 partitions",
            lambda b: so(b)["spec"].update(maxReplicaCount=7),
        ),
        ("minReplicaCount 0", "minReplicaCount must be at least 1", lambda b: so(b)["spec"].update(minReplicaCount=0)),
        (
            "minReplicaCount above maxReplicaCount",
            "minReplicaCount 8 is above maxReplicaCount 6",
            lambda b: so(b)["spec"].update(minReplicaCount=8),
        ),
        (
            "pollingInterval as a string",
            "spec.pollingInterval must be an integer",
            lambda b: so(b)["spec"].update(pollingInterval="30s"),
        ),
        ("unknown ScaledObject field", "unknown field 'maxReplicas'", lambda b: so(b)["spec"].update(maxReplicas=6)),
        (
            "scale-down window above an hour",
            "stabilizationWindowSeconds must be 0-3600",
            lambda b: so(b)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"].update(
                stabilizationWindowSeconds=4000
            ),
        ),
        (
            "HPA behavior typo scaleDwn (autoscaling/v2 schema)",
            "'scaleDwn' was unexpected",
            lambda b: so(b)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"].update(
                scaleDwn={"stabilizationWindowSeconds": 60}
            ),
        ),
        (
            "target Deployment with spec.replicas",
            "sets spec.replicas",
            lambda b: data(b, "Deployment", "order-consumer")["spec"].update(replicas=3),
        ),
        (
            "TriggerAuthentication with an unknown parameter",
            "'user' is not a parameter",
            lambda b: data(b, "TriggerAuthentication", "keda-kafka-sasl")["spec"]["secretTargetRef"].append(
                {"parameter": "user", "name": "keda-kafka-sasl", "key": "username"}
            ),
        ),
        (
            "TriggerAuthentication reading an undeclared Secret key",
            "reads key 'pass'",
            lambda b: data(b, "TriggerAuthentication", "keda-kafka-sasl")["spec"]["secretTargetRef"][2].update(
                key="pass"
            ),
        ),
        (
            "TriggerAuthentication with a username but no password",
            "both username and password",
            lambda b: data(b, "TriggerAuthentication", "keda-kafka-sasl")["spec"]["secretTargetRef"].pop(2),
        ),
        # Strimzi
        (
            "KafkaTopic without its cluster label",
            "no label strimzi.io/cluster",
            lambda b: topic(b)["metadata"].pop("labels"),
        ),
        (
            "KafkaTopic labelled with another cluster",
            "strimzi.io/cluster=other names no Kafka",
            lambda b: topic(b)["metadata"]["labels"].update({STRIMZI_CLUSTER_LABEL: "other"}),
        ),
        (
            "KafkaTopic with 0 partitions",
            "spec.partitions must be an integer >= 1",
            lambda b: topic(b)["spec"].update(partitions=0),
        ),
        (
            "KafkaTopic with more replicas than brokers",
            "spec.replicas 4 exceeds the 3 brokers",
            lambda b: topic(b)["spec"].update(replicas=4),
        ),
        (
            "KafkaTopic min.insync.replicas above replicas",
            "config.min.insync.replicas 4 above spec.replicas 3",
            lambda b: topic(b)["spec"]["config"].update({"min.insync.replicas": 4}),
        ),
        (
            "KafkaTopic apiVersion v1beta1",
            "Strimzi serves KafkaTopic as",
            lambda b: topic(b).update(apiVersion="kafka.strimzi.io/v1beta1"),
        ),
        (
            "KafkaTopic with an unknown field",
            "unknown field 'partition'",
            lambda b: topic(b)["spec"].update(partition=6),
        ),
        (
            "fewer partitions than maxReplicaCount",
            "maxReplicaCount 6 exceeds the 3 partitions",
            lambda b: topic(b)["spec"].update(partitions=3),
        ),
        (
            "KafkaNodePool role zookeeper",
            "spec.roles is required",
            lambda b: pool(b)["spec"].update(roles=["zookeeper"]),
        ),
        ("KafkaNodePool without storage", "spec.storage is required", lambda b: pool(b)["spec"].pop("storage")),
        (
            "KafkaNodePool volume without size",
            "size is required for persistent-claim",
            lambda b: pool(b)["spec"]["storage"]["volumes"][0].pop("size"),
        ),
        (
            "KafkaNodePool with an even number of controllers",
            "wants an odd number",
            lambda b: pool(b)["spec"].update(replicas=4),
        ),
        (
            "KafkaNodePool for a missing cluster",
            "must name a Kafka of the manifests, got 'other'",
            lambda b: pool(b)["metadata"]["labels"].update({STRIMZI_CLUSTER_LABEL: "other"}),
        ),
        (
            "Kafka listener without tls",
            "listeners[0].tls is required",
            lambda b: kafka(b)["kafka"]["listeners"][0].pop("tls"),
        ),
        (
            "Kafka listener name too long",
            "must be 1-11 lower-case letters",
            lambda b: kafka(b)["kafka"]["listeners"][0].update(name="plaintextlistener"),
        ),
        (
            "Kafka listener on Strimzi's metrics port",
            "port 9404 must be an integer >= 9092",
            lambda b: kafka(b)["kafka"]["listeners"][0].update(port=9404),
        ),
        (
            "Kafka listener type unknown",
            "listeners[0].type must be one of",
            lambda b: kafka(b)["kafka"]["listeners"][0].update(type="clusterip"),
        ),
        (
            "Kafka min.insync.replicas above the replication factor",
            "min.insync.replicas 4 above default.replication.factor 3",
            lambda b: kafka(b)["kafka"]["config"].update({"min.insync.replicas": 4}),
        ),
        (
            "Kafka replication factor above the brokers",
            "offsets.topic.replication.factor 5 exceeds the 3 brokers",
            lambda b: kafka(b)["kafka"]["config"].update({"offsets.topic.replication.factor": 5}),
        ),
        (
            "Kafka config key Strimzi manages",
            "config.listeners: Strimzi sets this itself",
            lambda b: kafka(b)["kafka"]["config"].update(listeners="PLAINTEXT://:9092"),
        ),
        ("Kafka with ZooKeeper", "spec.zookeeper", lambda b: kafka(b).update(zookeeper={"replicas": 3})),
        ("Kafka without topic operator", "topicOperator is needed", lambda b: kafka(b).pop("entityOperator")),
        (
            "Kafka v1beta2 without the KRaft annotation",
            "annotation strimzi.io/kraft",
            lambda b: data(b, "Kafka", "food-orders")["metadata"]["annotations"].pop("strimzi.io/kraft"),
        ),
        (
            "Kafka metadataVersion of another release",
            "does not belong to Kafka 4.1.1",
            lambda b: kafka(b)["kafka"].update(metadataVersion="3.9-IV0"),
        ),
        # workloads
        ("consumer runAsNonRoot false", "runAsNonRoot must be true", lambda b: csc(b).update(runAsNonRoot=False)),
        ("consumer as root", "runAsUser must be 10001", lambda b: csc(b).update(runAsUser=0)),
        (
            "consumer writable root filesystem",
            "readOnlyRootFilesystem must be true",
            lambda b: csc(b).update(readOnlyRootFilesystem=False),
        ),
        (
            "consumer privilege escalation",
            "allowPrivilegeEscalation must be false",
            lambda b: csc(b).update(allowPrivilegeEscalation=True),
        ),
        (
            "consumer keeps capabilities",
            "capabilities.drop must contain ALL",
            lambda b: csc(b).update(capabilities={"drop": ["NET_RAW"]}),
        ),
        (
            "consumer without seccomp profile",
            "seccompProfile.type must be RuntimeDefault",
            lambda b: (
                csc(b).pop("seccompProfile"),
                data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"]["securityContext"].pop(
                    "seccompProfile"
                ),
            ),
        ),
        (
            "consumer without memory limit",
            "resources.limits.memory missing",
            lambda b: consumer(b)["resources"]["limits"].pop("memory"),
        ),
        (
            "consumer memory request above limit",
            "resources.requests.memory is above its limit",
            lambda b: consumer(b)["resources"]["requests"].update(memory="256Mi"),
        ),
        (
            "consumer grace period shorter than the drain",
            "terminationGracePeriodSeconds 10 must exceed the consumer's drain",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"].update(
                terminationGracePeriodSeconds=10
            ),
        ),
        (
            "consumer readiness on /healthz",
            "readinessProbe asks '/healthz'",
            lambda b: consumer(b)["readinessProbe"]["httpGet"].update(path="/healthz"),
        ),
        (
            "consumer liveness on another port",
            "livenessProbe port 8080 is not 9464",
            lambda b: consumer(b)["livenessProbe"]["httpGet"].update(port=8080),
        ),
        (
            "consumer without liveness probe",
            "livenessProbe must be an httpGet",
            lambda b: consumer(b).pop("livenessProbe"),
        ),
        (
            "consumer DATABASE_URL with a password",
            "DATABASE_URL carries a password",
            lambda b: consumer_env(
                b, "DATABASE_URL", "postgres://orders_app:secret@food-orders-db-rw:5432/food_orders"
            ),
        ),
        (
            "consumer DATABASE_URL as the owner",
            "DATABASE_URL must name the least-privilege role",
            lambda b: consumer_env(b, "DATABASE_URL", "postgres://kafka_user@food-orders-db-rw:5432/food_orders"),
        ),
        (
            "consumer with the owner's URL",
            "MIGRATION_DATABASE_URL: the owner's credentials belong to the migration Job only",
            lambda b: consumer_env(b, "MIGRATION_DATABASE_URL", "postgres://kafka_user@food-orders-db-rw/food_orders"),
        ),
        (
            "consumer with a literal password variable",
            "POSTGRES_PASSWORD holds a literal password",
            lambda b: consumer_env(b, "POSTGRES_PASSWORD", "secret"),
        ),
        (
            "consumer password file outside the Secret volume",
            "is not in a mounted Secret volume",
            lambda b: consumer_env(b, "DATABASE_PASSWORD_FILE", "/etc/orders-app/password"),
        ),
        (
            "consumer OFFSET_STORE that Kafka never sees",
            "OFFSET_STORE=redis",
            lambda b: consumer_env(b, "OFFSET_STORE", "redis"),
        ),
        (
            "consumer topic that no KafkaTopic defines",
            "DLQ_TOPIC=food-orders.dead names no KafkaTopic",
            lambda b: consumer_env(b, "DLQ_TOPIC", "food-orders.dead"),
        ),
        (
            "consumer METRICS_ADDR on localhost",
            "METRICS_ADDR must be 0.0.0.0:9464",
            lambda b: consumer_env(b, "METRICS_ADDR", "127.0.0.1:9464"),
        ),
        (
            "consumer reading an undeclared Secret",
            "reads Secret 'orders-app-password'",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"]["volumes"][0][
                "secret"
            ].update(secretName="orders-app-password"),
        ),
        (
            "consumer Secret files readable by root only",
            "group-readable defaultMode",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"]["volumes"][0][
                "secret"
            ].update(defaultMode=0o400),
        ),
        (
            "consumer mounting the service account token",
            "automountServiceAccountToken must be false",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"].update(
                automountServiceAccountToken=True
            ),
        ),
        (
            "consumer image from elsewhere",
            "image 'nginx:latest' is not food-orders-pipeline",
            lambda b: consumer(b).update(image="nginx:latest"),
        ),
        (
            "Deployment field typo (Kubernetes schema)",
            "'containres' was unexpected",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["template"]["spec"].update(containres=[]),
        ),
        (
            "Deployment selector not matching its pods",
            "spec.selector does not match",
            lambda b: data(b, "Deployment", "order-consumer")["spec"]["selector"]["matchLabels"].update(
                {"app.kubernetes.io/name": "consumer"}
            ),
        ),
        (
            "producer grace period shorter than its flush",
            "must exceed the producer's final flush",
            lambda b: data(b, "Deployment", "order-producer")["spec"]["template"]["spec"].update(
                terminationGracePeriodSeconds=30
            ),
        ),
        (
            "migration Job without --migrate-only",
            "must run order-consumer --migrate-only",
            lambda b: job(b)["containers"][0].update(command=["order-consumer"]),
        ),
        (
            "migration Job without the owner's URL",
            "the migration Job needs MIGRATION_DATABASE_URL",
            lambda b: job(b)["containers"][0].update(
                env=[e for e in job(b)["containers"][0]["env"] if e["name"] != "MIGRATION_DATABASE_URL"]
            ),
        ),
        (
            "migration Job with another OFFSET_STORE than the consumers",
            "OFFSET_STORE differs between the consumers and the migration Job",
            lambda b: consumer_env(b, "OFFSET_STORE", "postgres"),
        ),
        (
            "migration Job restartPolicy Always",
            "restartPolicy must be Never or OnFailure",
            lambda b: job(b).update(restartPolicy="Always"),
        ),
        (
            "PodDisruptionBudget selecting nothing",
            "PodDisruptionBudget/order-consumer: its selector matches no Deployment",
            lambda b: data(b, "PodDisruptionBudget", "order-consumer")["spec"]["selector"]["matchLabels"].update(
                {"app.kubernetes.io/name": "consumers"}
            ),
        ),
        (
            "no PodDisruptionBudget for the consumers",
            "the consumers have no PodDisruptionBudget",
            lambda b: b.applied.remove(b.get("PodDisruptionBudget", "order-consumer")),
        ),
        (
            "Service selecting nothing",
            "Service/order-consumer: its selector matches no Deployment",
            lambda b: data(b, "Service", "order-consumer")["spec"]["selector"].update({"app.kubernetes.io/name": "x"}),
        ),
        # layout and secrets
        ("a manifest left out of kustomization.yaml", "does not list pdb.yaml", lambda b: b.listed.remove("pdb.yaml")),
        (
            "secret.example.yaml listed in kustomization.yaml",
            "lists secret.example.yaml",
            lambda b: b.listed.append(SECRET_EXAMPLE),
        ),
        (
            "a Secret among the applied manifests",
            "a Secret among the applied manifests",
            lambda b: b.applied.append(
                Doc(
                    "extra.yaml",
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"password": "p"}},
                )
            ),
        ),
        (
            "a real-looking value in secret.example.yaml",
            "is not a placeholder",
            lambda b: b.examples[0].data["stringData"].update(password="orders_app_pass"),
        ),
        (
            "a custom resource nobody checks",
            "no check for keda.sh/v1alpha1 ScaledJob",
            lambda b: b.applied.append(
                Doc(
                    "extra.yaml",
                    {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob", "metadata": {"name": "x"}, "spec": {}},
                )
            ),
        ),
    ]


class _Delete:
    pass


DELETE = _Delete()


def self_test(bundle: Bundle, version: str, schemas: bool, quiet: bool = False) -> int:
    base, _ = check(bundle, version, schemas)
    if base.items:
        print("self-test: the unmodified manifests already fail; fix those first:")
        for item in base.items:
            print(f"  {item}")
        return 1
    passed = failed = 0
    for description, expected, mutate in mutations():
        broken = copy.deepcopy(bundle)
        mutate(broken)
        found, _ = check(broken, version, schemas)
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
        "--no-schemas",
        action="store_true",
        help="skip the Kubernetes schemas (when kubernetes-validate is not installed)",
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
    bundle = load(args.dir)
    if args.self_test:
        return self_test(bundle, args.kubernetes_version, not args.no_schemas, args.quiet)
    found, validated = check(bundle, args.kubernetes_version, not args.no_schemas)
    for item in found.items:
        print(f"{args.dir.name}/{item}")
    kinds = sorted({d.kind for d in bundle.applied})
    schema_note = (
        f"{validated} against Kubernetes {args.kubernetes_version}'s schemas (strict)"
        if validated
        else "Kubernetes schemas skipped"
    )
    print(
        f"validate: {len(bundle.applied)} documents ({', '.join(kinds)}), {len(bundle.examples)} example Secrets; "
        f"{schema_note}; {len(found.items)} finding(s)"
    )
    return 1 if found.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
