"""The whole offline validation of deploy/k8s/ that scripts/k8s-validate.sh runs, in the venv it creates.

validate.py (the published schemas and the repository's rules), its self-test, `kubectl kustomize` where kubectl is
installed, then kube-score. Each command is printed before it runs, quoted as scripts/lib/common.sh's `show` does,
so it can be pasted into a shell (from the repository's root). A failing command ends the validation with its exit
status; a usage error, a missing tool or a kube-score finding with status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Any, NoReturn

import published
import validate

KUBE_SCORE_VERSION = "v1.20.0"
KUBE_SCORE_MODULE = "github.com/zegl/kube-score/cmd/kube-score"
# Built once with `go install` (the Go module proxy and its checksum database) into .local/k8s-tools/VERSION/.
KUBE_SCORE = published.CACHE.parent / KUBE_SCORE_VERSION / "kube-score"
IGNORES = validate.HERE / "kube-score-ignore.txt"
# Two optional checks the pods meet, switched on; the other optional ones want requests equal to limits, which the
# pods do not do on purpose (a drain may use more CPU than the request).
OPTIONAL_TESTS = ["container-seccomp-profile", "container-ports-check"]
PROG = "scripts/k8s-validate.sh"

DESCRIPTION = f"""\
Checks deploy/k8s/ without a cluster:
  1. deploy/k8s/validate.py: every resource against its published schema, strict (Kubernetes X.Y's through
     kubernetes-validate; KEDA's and Strimzi's CRDs, deploy/k8s/published.py), then the repository's own rules
  2. deploy/k8s/validate.py --self-test: broken copies of the manifests, each of which must be caught
     (and, where kubectl is installed, kubectl kustomize renders deploy/k8s offline)
  3. kube-score {KUBE_SCORE_VERSION} on the core resources; deploy/k8s/kube-score-ignore.txt lists the checks
     skipped, each with its reason; any other warning or critical finding fails"""
FIRST_RUN = f"""\
First run: {PROG} creates the venv {sys.prefix}
(deploy/k8s/requirements.txt, PyPI; $K8S_VENV when set), then this fetches KEDA's schemas into
{published.CACHE} (Go module proxy) and builds kube-score into
{KUBE_SCORE.parent} (go install). Later runs reuse them. Strimzi's schemas are vendored
(deploy/k8s/schemas/README.md); with a Java {published.STRIMZI_JAVA}+ ($K8S_VALIDATE_JAVA alone when set, 'none' for
no Java; else JAVA_HOME, PATH, /usr/lib/jvm) they are generated again into that folder (Maven Central) and must
match."""


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def die(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def quote(word: str) -> str:
    return word if re.fullmatch(r"[A-Za-z0-9_./:=@,+%-]+", word) else "'" + word.replace("'", "'\\''") + "'"


def show(command: list[str], env: dict[str, str] | None = None) -> None:
    """Prints a command (after the variables it sets) as common.sh's `show` does, without running it."""
    words = [f"{name}={quote(value)}" for name, value in (env or {}).items()] + [quote(word) for word in command]
    print("$", *words, file=sys.stderr, flush=True)


def run(command: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> None:
    """Prints a command, then runs it; a failure ends the validation with its exit status (128 + N on signal N)."""
    show(command, env)
    status = subprocess.run(command, env={**os.environ, **env} if env else None, check=False, **kwargs).returncode
    if status:
        sys.exit(status if status > 0 else 128 - status)


def ensure_kube_score() -> None:
    if os.access(KUBE_SCORE, os.X_OK):
        return
    if shutil.which("go") is None:
        die("go not found: kube-score is built with 'go install' (or run with --no-lint)")
    log(f"building kube-score {KUBE_SCORE_VERSION} with go install (once; cached in {KUBE_SCORE.parent})")
    KUBE_SCORE.parent.mkdir(parents=True, exist_ok=True)
    gobin = {"GOBIN": str(KUBE_SCORE.parent), "GOFLAGS": "-trimpath"}
    run(["go", "install", f"{KUBE_SCORE_MODULE}@{KUBE_SCORE_VERSION}"], env=gobin)


def ignored_tests() -> list[str]:
    """The ignore list: one kube-score check per line, then its reason; '#' starts a comment. A check without a
    reason is refused, so every skipped check says why."""
    tests = []
    lines = IGNORES.read_text().splitlines() if IGNORES.is_file() else []
    for line in lines:
        words = line.split("#", 1)[0].split(maxsplit=1)
        if len(words) == 1:
            die(f"{IGNORES}: '{words[0]}' has no reason; write why it is ignored after it")
        tests += words[:1]
    return tests


def kube_score(kubernetes_version: str) -> None:
    ensure_kube_score()
    tests = ignored_tests()
    # The resources kustomize applies: validate.py checked that kustomization.yaml lists every manifest but the
    # example Secrets (kube-score skips the Strimzi and KEDA kinds it does not know). Relative to the root, where
    # kube-score runs, so the command printed is the one run.
    skipped = {validate.KUSTOMIZATION, validate.SECRET_EXAMPLE}
    manifests = [
        str(p.relative_to(published.ROOT)) for p in sorted(validate.HERE.glob("*.yaml")) if p.name not in skipped
    ]
    command = [str(KUBE_SCORE), "score", "--kubernetes-version", f"v{kubernetes_version}"]
    command += ["--output-format", "ci", "--exit-one-on-warning"]
    command += [arg for test in OPTIONAL_TESTS for arg in ("--enable-optional-test", test)]
    command += [arg for test in tests for arg in ("--ignore-test", test)]
    show(command + manifests)
    done = subprocess.run(
        command + manifests,
        cwd=published.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    if done.returncode:
        print(*(line for line in lines if not re.match(r"\[(OK|SKIPPED)\]", line)), sep="\n", file=sys.stderr)
        die("kube-score found what the manifests or deploy/k8s/kube-score-ignore.txt must answer (above)")
    ok = sum(line.startswith("[OK]") for line in lines)
    log(f"kube-score: {ok} checks OK, {len(tests)} ignored (deploy/k8s/kube-score-ignore.txt)")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        die(f"{message} (see {PROG} --help)")


def main(argv: list[str]) -> int:
    parser = Parser(
        prog=PROG, description=DESCRIPTION, epilog=FIRST_RUN, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-lint", action="store_true", help="skip kube-score (no Go on this machine)")
    parser.add_argument(
        "--kubernetes-version",
        metavar="X.Y",
        default=os.environ.get("KUBERNETES_VERSION") or validate.KUBERNETES_VERSION,
        help=f"schemas to validate against (default $KUBERNETES_VERSION or {validate.KUBERNETES_VERSION})",
    )
    args = parser.parse_args(argv)
    version = args.kubernetes_version
    if not re.fullmatch(r"1\.[0-9]+", version):
        die(f"--kubernetes-version must look like 1.33, got '{version}'")
    started = time.monotonic()
    checks = [sys.executable, str(validate.HERE / "validate.py"), "--kubernetes-version", version]
    checks += ["--cache", str(published.CACHE)]
    run([*checks, "--fetch"])
    run([*checks, "--self-test", "--quiet"])
    # kustomize's own reading of kustomization.yaml (namespace, images), where kubectl is installed; offline.
    if shutil.which("kubectl"):
        run(["kubectl", "kustomize", str(validate.HERE)], stdout=subprocess.DEVNULL)
    else:
        log("kubectl not found: kustomization.yaml not rendered (validate.py checked its resource list)")
    if not args.no_lint:
        kube_score(version)
    log(f"deploy/k8s validated in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
