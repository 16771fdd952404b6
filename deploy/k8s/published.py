"""The schemas KEDA and Strimzi publish, pinned (sha256-checked) and applied offline by validate.py.

- KEDA: the CRDs of the Go module github.com/kedacore/keda/v2 (config/crd/bases/, from the Go module proxy), and
  the parameters its Kafka scaler declares (the `keda:"..."` tags of kafkaMetadata in pkg/scalers/kafka_scaler.go:
  names, required or not, types, allowed values). Fetched once into the cache.
- Strimzi: its CRDs, generated the way Strimzi's build generates its install files, by its CrdGenerator
  (io.strimzi:crd-generator) from the io.strimzi:api classes, both from Maven Central. Strimzi publishes no CRD
  file to a package registry, and crd-generator is released only for some versions: 1.2.0 is the nearest release
  after the api's 0.51.0 (the operator version docs/kubernetes.md installs), and it needs Java 21 or newer. So the
  generated schemas are vendored (schemas/strimzi-0.51.0.json, schemas/README.md) and validation reads them; where
  a Java 21+ is found, fetch() generates them again into the cache and fails if the vendored copy differs.
  `python published.py` rewrites the vendored copy (after a change of pins or arguments here).

A custom resource is validated against its version's openAPIV3Schema, strictly: an object rejects fields its schema
does not list unless the schema preserves unknown fields, `metadata` is Kubernetes' ObjectMeta (strict, from
kubernetes-validate), and the schemas' CEL rules (x-kubernetes-validations, except transition rules) are evaluated.
"""

from __future__ import annotations

import hashlib
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from functools import cache, partial
from glob import glob
from pathlib import Path
from typing import Any

import yaml

KEDA_VERSION = "v2.21.1"
STRIMZI_API_VERSION = "0.51.0"
STRIMZI_GENERATOR_VERSION = "1.2.0"
MAVEN = "https://repo1.maven.org/maven2/io/strimzi"
DOWNLOADS = {
    f"keda-{KEDA_VERSION}.zip": (
        f"https://proxy.golang.org/github.com/kedacore/keda/v2/@v/{KEDA_VERSION}.zip",
        "872fa4b9d4282969ece753727ca31a7a31eaf341a52fa0972148297521ca9a75",
    ),
    f"strimzi-api-{STRIMZI_API_VERSION}.jar": (
        f"{MAVEN}/api/{STRIMZI_API_VERSION}/api-{STRIMZI_API_VERSION}.jar",
        "219b54d570c408523f62bffc999041c64ea926afbc784be942290709fbbcde62",
    ),
    f"strimzi-crd-generator-{STRIMZI_GENERATOR_VERSION}.jar": (
        f"{MAVEN}/crd-generator/{STRIMZI_GENERATOR_VERSION}/crd-generator-{STRIMZI_GENERATOR_VERSION}.jar",
        "76bb2430e702a1e6a24c071d26c865d5e9572cbc630d176d3b912033ae23ed00",
    ),
}
# The CrdGenerator runs of Strimzi's api/pom.xml (0.51.0) for the kinds the manifests may use: the arguments after
# the class name, without the output files (<Kind>.yaml, one per class).
STRIMZI_RUNS = [
    (["--api-versions", "v1beta2,v1"], ["kafka.Kafka", "nodepool.KafkaNodePool"]),
    (["--api-versions", "v1alpha1,v1beta1,v1beta2,v1"], ["topic.KafkaTopic", "user.KafkaUser"]),
]
STRIMZI_JAVA = 21
# Strimzi's schemas as generated from the pins above, in the repository (schemas/README.md says how they were made).
ROOT = Path(__file__).resolve().parents[2]
# Where the downloads and the derived schemas are kept: .local/k8s-tools/schemas ($LOCAL_DIR as in scripts/).
CACHE = Path(os.environ.get("LOCAL_DIR") or ROOT / ".local") / "k8s-tools" / "schemas"
VENDORED = ROOT / "deploy" / "k8s" / "schemas" / f"strimzi-{STRIMZI_API_VERSION}.json"
REGENERATE = f"`.local/k8s-venv/bin/python deploy/k8s/published.py` (Java {STRIMZI_JAVA}+) writes it"
# The scalers whose declared parameters are checked: trigger type -> (file in the KEDA module, metadata struct).
KEDA_SCALERS = {"kafka": ("pkg/scalers/kafka_scaler.go", "kafkaMetadata")}
KEDA_LABEL = f"KEDA {KEDA_VERSION}"
STRIMZI_LABEL = f"Strimzi {STRIMZI_API_VERSION}"
SOURCES = {"keda": KEDA_LABEL, "strimzi": STRIMZI_LABEL}


# --------------------------------------------------------------------------------------------------------- fetching


def download(cache_dir: Path, name: str) -> Path:
    url, sha256 = DOWNLOADS[name]
    path = cache_dir / "downloads" / name
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"published: downloading {url}")
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (a pinned https URL)
        data = response.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise SystemExit(f"error: {url}: sha256 {got}, pinned {sha256} (deploy/k8s/published.py)")
    path.write_bytes(data)
    return path


def derived_file(cache_dir: Path, source: str) -> Path:
    return cache_dir / f"{SOURCES[source].replace(' ', '-')}.json"


def pinned_inputs(source: str) -> dict[str, str]:
    """The downloads a derived file comes from, with their pinned sha256: a changed pin makes it stale."""
    return {name: sha256 for name, (_, sha256) in DOWNLOADS.items() if name.startswith(f"{source}-")}


def pins(source: str) -> dict[str, Any]:
    """What a derived file records of how it was made; one that records anything else is stale."""
    made = {"inputs": pinned_inputs(source)}
    if source == "strimzi":
        made["commands"] = [" ".join(["java", "-cp", ":".join(made["inputs"]), *args]) for args, _ in strimzi_runs()]
    return made


def is_fresh(data: dict[str, Any], source: str) -> bool:
    return all(data.get(key) == value for key, value in pins(source).items())


def fetch(cache_dir: Path) -> None:
    """Downloads what is missing and derives KEDA's schema file validate.py reads (offline once it exists), then
    checks the vendored Strimzi schemas against a generation of them where a Java 21+ is found."""
    target = derived_file(cache_dir, "keda")
    if not target.is_file() or not is_fresh(json.loads(target.read_text()), "keda"):
        write_json(target, derive_keda(cache_dir))
        print(f"published: {target} (KEDA's CRDs and scalers)")
    check_vendored(cache_dir)


def write_json(target: Path, data: dict[str, Any]) -> None:
    """A derived file: JSON, a line for each top-level key and for each CRD version (a diff names what changed)."""
    dump = partial(json.dumps, sort_keys=True, separators=(",", ":"))
    lines = [f"{dump(k)}:{dump(v)}" for k, v in sorted(data.items()) if k != "crds"]
    crds = ",\n".join(f"{dump(k)}:{dump(v)}" for k, v in sorted(data["crds"].items()))
    tmp = target.with_suffix(".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("{\n" + "".join(f"{line},\n" for line in lines) + f'"crds":{{\n{crds}\n}}}}\n')
    tmp.replace(target)


def load_vendored() -> dict[str, Any]:
    if not VENDORED.is_file():
        raise FileNotFoundError(f"{VENDORED} is missing; {REGENERATE}")
    data = json.loads(VENDORED.read_text())
    if not is_fresh(data, "strimzi"):
        raise FileNotFoundError(f"{VENDORED} comes from other pins or arguments than published.py's; {REGENERATE}")
    return data


def check_vendored(cache_dir: Path) -> None:
    """Generates Strimzi's schemas into the cache where a Java 21+ is found (again when the pins or this file change),
    and fails if the vendored copy differs from them; without one, says so and leaves the vendored copy unchecked."""
    try:
        vendored = load_vendored()["crds"]
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    java, seen = find_java()
    where = VENDORED.relative_to(ROOT)
    if java is None:
        print(
            f"published: no Java {STRIMZI_JAVA}+ to run Strimzi's CrdGenerator ({seen}): validating against the "
            f"vendored {where}, not generated again to compare"
        )
        return
    target = derived_file(cache_dir, "strimzi")
    cached = json.loads(target.read_text()) if target.is_file() else {}
    deriver = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    if not is_fresh(cached, "strimzi") or cached.get("published.py") != deriver:
        cached = {**derive_strimzi(cache_dir, java), "published.py": deriver}
        write_json(target, cached)
    generated = cached["crds"]
    differ = sorted(k for k in vendored.keys() | generated.keys() if vendored.get(k) != generated.get(k))
    if differ:
        raise SystemExit(
            f"error: {where} differs from Strimzi's schemas generated with {java} into {target}, in "
            f"{len(differ)} CRD version(s): {', '.join(differ)}. Restore it, or if the pins or arguments of "
            f"deploy/k8s/published.py changed on purpose, {REGENERATE} again"
        )
    print(f"published: {where} matches Strimzi's CRDs generated again with {java} ({len(generated)} CRD versions)")


def crd_entries(crd: dict[str, Any], source: str) -> dict[str, Any]:
    """'group/version Kind' -> that version's openAPIV3Schema (descriptions dropped) for each served version."""
    spec = crd["spec"]
    return {
        f"{spec['group']}/{v['name']} {spec['names']['kind']}": {
            "source": source,
            "schema": strip_descriptions(v["schema"]["openAPIV3Schema"]),
        }
        for v in spec["versions"]
        if v.get("served")
    }


def strip_descriptions(node: Any, fields: bool = False) -> Any:
    """A schema without its descriptions (fields: node maps field names to schemas, a field may be called so)."""
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v, k == "properties" and not fields)
            for k, v in node.items()
            if fields or k != "description"
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def derive_keda(cache_dir: Path) -> dict[str, Any]:
    path = download(cache_dir, f"keda-{KEDA_VERSION}.zip")
    prefix = f"github.com/kedacore/keda/v2@{KEDA_VERSION}/"
    crds: dict[str, Any] = {}
    scalers: dict[str, Any] = {}
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.startswith(prefix + "config/crd/bases/") and name.endswith(".yaml"):
                crds.update(crd_entries(yaml.load(z.read(name), Loader=yaml.CSafeLoader), "keda"))
        for trigger, (file, struct) in KEDA_SCALERS.items():
            scalers[trigger] = scaler_parameters(z.read(prefix + file).decode(), struct, file)
    return {"crds": crds, "scalers": scalers, "inputs": pinned_inputs("keda")}


def scaler_parameters(source: str, struct: str, file: str) -> dict[str, Any]:
    """A scaler's parameters as its metadata struct's `keda:"..."` tags declare them (KEDA's
    pkg/scalers/scalersconfig/typed_config.go reads the same tags)."""
    body = re.search(rf"^type {struct} struct \{{\n(.*?)^\}}", source, re.S | re.M)
    if body is None:
        raise SystemExit(f"error: KEDA {KEDA_VERSION} {file}: no struct {struct}")
    named = dict(re.findall(r"^type (\w+) (\w+)$", source, re.M))
    params = {}
    for _, gotype, tag in re.findall(r"^\s*(\w+)\s+([\w\[\]\.\*]+)\s+`keda:\"([^\"]*)\"`", body.group(1), re.M):
        p: dict[str, Any] = {"type": named.get(gotype, gotype), "order": [], "optional": False}
        for part in tag.split(","):
            key, _, value = part.strip().partition("=")
            if key in ("name", "order", "enum"):
                p[{"name": "names"}.get(key, key)] = value.split(";")
            elif key == "optional":
                p["optional"] = value in ("", "true")
            elif key in ("default", "deprecated", "separator"):
                p[key] = value or key
        for name in p.pop("names", []):
            params[name] = p
    if not params:
        raise SystemExit(f"error: KEDA {KEDA_VERSION} {file}: no keda tags in {struct}")
    return {"file": file, "params": params}


def find_java() -> tuple[str | None, str]:
    """A Java 21+ to run Strimzi's CrdGenerator (None if there is none) and what was looked at: K8S_VALIDATE_JAVA
    alone when set ('none': no Java), else JAVA_HOME, PATH and /usr/lib/jvm."""
    given = os.environ.get("K8S_VALIDATE_JAVA", "")
    if given:
        candidates = [] if given == "none" else [given]
    else:
        home = os.environ.get("JAVA_HOME", "")
        candidates = [os.path.join(home, "bin", "java") if home else "", shutil.which("java") or ""]
        candidates += sorted(glob("/usr/lib/jvm/*/bin/java"), reverse=True)
    found: dict[str, int] = {}
    unique: dict[str, str] = {}  # each java once (by its real path), under its first name above
    for java in candidates:
        if java and os.access(java, os.X_OK):
            unique.setdefault(os.path.realpath(java), java)
    for java in unique.values():
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
        m = re.search(r'version "(?:1\.)?(\d+)', out)
        found[java] = int(m.group(1)) if m else 0
        if found[java] >= STRIMZI_JAVA:
            return java, ""
    if given:
        return None, f"K8S_VALIDATE_JAVA={given}" + (f": Java {found[given] or '?'}" if given in found else "")
    return None, ", ".join(f"{java}: Java {version or '?'}" for java, version in found.items()) or "no java found"


def strimzi_runs() -> list[tuple[list[str], list[str]]]:
    """Each CrdGenerator run: its arguments after java's classpath, and the files it writes (in its directory)."""
    runs = []
    for versions, classes in STRIMZI_RUNS:
        outputs = [f"./{c.split('.')[-1]}.yaml" for c in classes]  # (CrdGenerator wants a parent folder)
        args = ["io.strimzi.crdgenerator.CrdGenerator", "--crd-api-version", "v1", *versions]
        args += ["--storage-version", "v1beta2", "--describe-api-versions", "v1alpha1", "--yaml"]
        args += [f"io.strimzi.api.kafka.model.{c}={out}" for c, out in zip(classes, outputs, strict=True)]
        runs.append((args, outputs))
    return runs


def derive_strimzi(cache_dir: Path, java: str) -> dict[str, Any]:
    jars = [str(download(cache_dir, name)) for name in pinned_inputs("strimzi")]
    crds: dict[str, Any] = {}
    version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr.splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        for args, outputs in strimzi_runs():
            print(f"published: generating Strimzi's CRDs for {', '.join(o[2:].removesuffix('.yaml') for o in outputs)}")
            cmd = [java, "-cp", os.pathsep.join(jars), *args]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)
            if run.returncode != 0:
                raise SystemExit(f"error: Strimzi's CrdGenerator failed:\n{run.stdout}{run.stderr}")
            for out in outputs:
                crds.update(crd_entries(yaml.load(Path(tmp, out).read_text(), Loader=yaml.CSafeLoader), "strimzi"))
    return {"crds": crds, **pins("strimzi"), "java": version[1] if len(version) > 1 else version[0]}


def main(argv: list[str]) -> int:
    """Writes the vendored Strimzi schemas: generated again with a Java 21+ (after a change of pins or arguments)."""
    epilog = "Java: K8S_VALIDATE_JAVA alone when set, else JAVA_HOME, PATH, /usr/lib/jvm/*/bin/java."
    parser = argparse.ArgumentParser(description=main.__doc__, epilog=epilog)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the downloads are kept (default: %(default)s)")
    args = parser.parse_args(argv)
    java, seen = find_java()
    if java is None:
        print(f"error: Strimzi's CrdGenerator needs Java {STRIMZI_JAVA}+ ({seen})", file=sys.stderr)
        return 1
    data = derive_strimzi(args.cache, java)
    data["about"] = "Strimzi's CRD schemas, generated by deploy/k8s/published.py: see README.md beside this file"
    write_json(VENDORED, data)
    print(f"published: wrote {VENDORED} ({len(data['crds'])} CRD versions, {VENDORED.stat().st_size} bytes)")
    return 0


# -------------------------------------------------------------------------------------------------------- validating


def to_json_schema(node: Any, top: bool = False) -> Any:
    """A CRD's structural OpenAPI v3 schema as a strict JSON schema: an object without
    x-kubernetes-preserve-unknown-fields rejects fields it does not list (the API server prunes them, and strict
    field validation refuses them); nullable admits null; int-or-string admits both."""
    out = dict(node)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            out[key] = to_json_schema(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            out[key] = [to_json_schema(v) for v in node[key]]
    if "properties" in node:
        out["properties"] = {k: to_json_schema(v) for k, v in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    elif node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    strict = not node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and "additionalProperties" not in node and strict:
        out["additionalProperties"] = False
    if top:
        out.setdefault("properties", {})["metadata"] = {"$ref": f"{KUBE_DEFINITIONS}#/$defs/{OBJECT_META}"}
    return out


KUBE_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def cel_rules(validator: Any, rules: list[dict[str, Any]], instance: Any, schema: Any) -> Iterator[Any]:
    """The x-kubernetes-validations keyword: each CEL rule with `self` bound to the value (rules that compare with
    `oldSelf` apply to updates only and are skipped)."""
    from jsonschema import ValidationError  # noqa: PLC0415

    for rule in rules:
        if "oldSelf" in rule["rule"]:
            continue
        try:
            ok = cel_program(rule["rule"]).eval(data={"self": instance}).value()
        except Exception as e:  # noqa: BLE001 (the CEL runtime raises RuntimeError and TypeError)
            yield ValidationError(f"CEL rule {rule['rule']!r} could not be evaluated: {e}")
            continue
        if ok is not True:
            yield ValidationError(rule.get("message") or f"failed CEL rule {rule['rule']!r}")


@cache
def cel_program(rule: str) -> Any:
    from cel_expr_python import cel  # noqa: PLC0415 (installed by scripts/k8s-validate.sh)

    return cel.NewEnv(variables={"self": cel.Type.DYN}).compile(rule)


class Published:
    """KEDA's derived schema file of one cache folder and Strimzi's vendored schemas."""

    def __init__(self, cache_dir: Path, kubernetes_version: str) -> None:
        path = derived_file(cache_dir, "keda")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (validate.py --fetch makes it)")
        keda = json.loads(path.read_text())
        if not is_fresh(keda, "keda"):
            raise FileNotFoundError(f"{path} comes from other pins than published.py's (validate.py --fetch)")
        self.crds: dict[str, Any] = {**keda["crds"], **load_vendored()["crds"]}
        self.scalers: dict[str, Any] = keda["scalers"]
        self.kubernetes_version = kubernetes_version

    def served(self, api: str, kind: str) -> bool:
        return f"{api} {kind}" in self.crds

    @cache  # noqa: B019 (one Published per run)
    def validator(self, api: str, kind: str) -> Any:
        import jsonschema  # noqa: PLC0415
        from kubernetes_validate import utils  # noqa: PLC0415
        from referencing import Registry, Resource  # noqa: PLC0415

        version = [v for v in utils.all_versions() if utils.major_minor(v) <= self.kubernetes_version][-1]
        defs = utils.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
        registry = Resource.from_contents(defs) @ Registry()
        cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-kubernetes-validations": cel_rules})
        return cls(to_json_schema(self.crds[f"{api} {kind}"]["schema"], top=True), registry=registry)

    def source(self, api: str, kind: str) -> str:
        return SOURCES[self.crds[f"{api} {kind}"]["source"]]

    def check(self, data: dict[str, Any]) -> list[str]:
        """What the published schema of a custom resource finds in it."""
        api, kind = str(data.get("apiVersion")), str(data.get("kind"))
        if not self.served(api, kind):
            known = sorted(k.split(" ")[0] for k in self.crds if k.endswith(f" {kind}"))
            return [f"no published schema serves {api} {kind} ({KEDA_LABEL}, {STRIMZI_LABEL}; {kind}: {known})"]
        errors = sorted(self.validator(api, kind).iter_errors(data), key=lambda e: list(map(str, e.path)))
        label = f"{self.source(api, kind)} CRD"
        out = [f"{label}, at {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
        if kind == "ScaledObject":
            for i, trigger in enumerate(dig_list(data, "spec", "triggers")):
                out += self.check_trigger(f"spec.triggers[{i}]", trigger)
        if kind == "TriggerAuthentication":
            out += self.check_auth(data)
        return out

    def check_auth(self, data: dict[str, Any]) -> list[str]:
        """A TriggerAuthentication's parameters: ones the scalers checked here (kafka, the consumers' only trigger
        type) take from authParams."""
        params = [(name, p) for s in self.scalers.values() for name, p in s["params"].items()]
        allowed = {name for name, p in params if "authParams" in p["order"]}
        label = f"{KEDA_LABEL}'s {', '.join(self.scalers)} scaler"
        return [
            f"spec.secretTargetRef[{i}]: {ref.get('parameter')!r} is not a parameter of {label}"
            for i, ref in enumerate(dig_list(data, "spec", "secretTargetRef"))
            if isinstance(ref, dict) and ref.get("parameter") not in allowed
        ]

    def check_trigger(self, at: str, trigger: Any) -> list[str]:
        """The trigger's metadata against the parameters its scaler declares: known keys only (KEDA's own
        KEDA_CHECK_UNEXPECTED_SCALERS_PARAMS check, strict here), the required ones present, each value of its
        declared type and allowed values."""
        if not isinstance(trigger, dict) or trigger.get("type") not in self.scalers:
            return []
        scaler = self.scalers[trigger["type"]]
        label = f"{KEDA_LABEL}'s {trigger['type']} scaler"
        meta = trigger.get("metadata") if isinstance(trigger.get("metadata"), dict) else {}
        params = scaler["params"]
        out = []
        for key in sorted(meta):
            name = key.removesuffix("FromEnv")
            p = params.get(name)
            if p is None or "triggerMetadata" not in p["order"] or (name != key and "resolvedEnv" not in p["order"]):
                out.append(f"{at}.metadata: {key!r} is not a trigger parameter of {label} ({scaler['file']})")
        for name, p in sorted(params.items()):
            value = str(meta.get(name, "")).strip()
            given = value != "" or str(meta.get(f"{name}FromEnv", "")).strip() != ""
            required = not p["optional"] and "default" not in p and "deprecated" not in p
            if not given and required and "triggerMetadata" in p["order"]:
                out.append(f"{at}.metadata.{name} is required by {label}")
            why = value_error(value, p) if value and "triggerMetadata" in p["order"] else None
            if why:
                out.append(f"{at}.metadata.{name} {value!r} {why}, says {label}")
        return out


GO_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}


def value_error(value: str, p: dict[str, Any]) -> str | None:
    """Why KEDA's typed config would refuse a value for a parameter (None when it takes it)."""
    if "enum" in p:
        bad = [v for v in value.split(p.get("separator", ",")) if v.strip() not in p["enum"]]
        if bad:
            return f"must be one of {', '.join(p['enum'])}"
    kind = p["type"]
    if kind == "bool" and value not in GO_BOOLS:
        return "is not a boolean (Go's strconv.ParseBool)"
    if re.fullmatch(r"u?int(8|16|32|64)?", kind) and not re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
        return f"is not an integer ({kind})"
    if kind.startswith("float") and not re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", value):
        return f"is not a number ({kind})"
    return None


def dig_list(data: Any, *path: str) -> list[Any]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, list) else []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
