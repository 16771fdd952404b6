#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s/ offline, without a cluster (docs/kubernetes.md, "What was
# validated"): every resource against its published schema (Kubernetes', KEDA's, Strimzi's; strict) and the
# repository's own rules by deploy/k8s/validate.py, its self-test (broken copies of the manifests must fail), and
# kube-score with deploy/k8s/kube-score-ignore.txt. Tools and schemas are pinned, in .local/ or deploy/k8s/schemas/.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

K8S_DIR="$ROOT_DIR/deploy/k8s"
VENV="${K8S_VENV:-$LOCAL_DIR/k8s-venv}"
REQUIREMENTS="$K8S_DIR/requirements.txt"
KUBE_SCORE_VERSION="v1.20.0"
KUBE_SCORE_MODULE="github.com/zegl/kube-score/cmd/kube-score"
TOOLS_BIN="$LOCAL_DIR/k8s-tools/$KUBE_SCORE_VERSION"
SCHEMAS="$LOCAL_DIR/k8s-tools/schemas"
KUBE_SCORE="$TOOLS_BIN/kube-score"
IGNORES="$K8S_DIR/kube-score-ignore.txt"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33}"
LINT=1

usage() {
  cat <<USAGE
Usage: scripts/k8s-validate.sh [--no-lint] [--kubernetes-version X.Y]

Checks deploy/k8s/ without a cluster:
  1. deploy/k8s/validate.py: every resource against its published schema, strict (Kubernetes X.Y's through
     kubernetes-validate; KEDA's and Strimzi's CRDs, deploy/k8s/published.py), then the repository's own rules
  2. deploy/k8s/validate.py --self-test: broken copies of the manifests, each of which must be caught
     (and, where kubectl is installed, kubectl kustomize renders deploy/k8s offline)
  3. kube-score $KUBE_SCORE_VERSION on the core resources; deploy/k8s/kube-score-ignore.txt lists the checks
     skipped, each with its reason; any other warning or critical finding fails

First run: creates $VENV (deploy/k8s/requirements.txt, PyPI), fetches KEDA's schemas into $SCHEMAS (Go module
proxy) and builds kube-score into $TOOLS_BIN (go install). Later runs reuse them. Strimzi's schemas are vendored
(deploy/k8s/schemas/README.md); with a Java 21+ (\$K8S_VALIDATE_JAVA alone when set, 'none' for no Java; else
JAVA_HOME, PATH, /usr/lib/jvm) they are generated again into $SCHEMAS (Maven Central) and must match.

Options:
  --no-lint                  skip kube-score (no Go on this machine)
  --kubernetes-version X.Y   schemas to validate against (default \$KUBERNETES_VERSION or 1.33)
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-lint) LINT=""; shift ;;
    --kubernetes-version)
      (($# > 1)) || die "--kubernetes-version needs a version such as 1.33"
      KUBERNETES_VERSION="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/k8s-validate.sh --help)" ;;
  esac
done
[[ "$KUBERNETES_VERSION" =~ ^1\.[0-9]+$ ]] || die "--kubernetes-version must look like 1.33, got '$KUBERNETES_VERSION'"

started=$SECONDS

# The venv is rebuilt when requirements.txt or python3 changes: both are stamped into it once pip succeeded.
ensure_venv() {
  local want have=""
  command -v python3 >/dev/null ||
    die "python3 not found: it runs deploy/k8s/validate.py (Debian: apt-get install python3 python3-venv)"
  want="$(python3 --version) $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  [[ ! -f "$VENV/.stamp" ]] || have="$(<"$VENV/.stamp")"
  [[ "$want" != "$have" || ! -x "$VENV/bin/python" ]] || return 0
  # Debian's python3 creates venvs only with python3-venv installed.
  python3 -c 'import ensurepip, venv' 2>/dev/null || install_packages python3-venv
  log "creating $VENV with the pinned kubernetes-validate (deploy/k8s/requirements.txt)"
  rm -rf "$VENV"
  run python3 -m venv "$VENV"
  run "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  printf '%s\n' "$want" >"$VENV/.stamp"
}

# kube-score, built once from the Go module proxy at the pinned version into .local/k8s-tools/VERSION/.
ensure_kube_score() {
  [[ ! -x "$KUBE_SCORE" ]] || return 0
  command -v go >/dev/null || die "go not found: kube-score is built with 'go install' (or run with --no-lint)"
  log "building kube-score $KUBE_SCORE_VERSION with go install (once; cached in $TOOLS_BIN)"
  mkdir -p "$TOOLS_BIN"
  GOBIN="$TOOLS_BIN" GOFLAGS=-trimpath run go install "$KUBE_SCORE_MODULE@$KUBE_SCORE_VERSION"
}

# The ignore list: one kube-score check per line, then its reason; '#' starts a comment. A check without a reason
# is refused, so every skipped check says why.
ignored_tests() {
  local line test reason
  [[ -f "$IGNORES" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"
    [[ "$line" =~ [^[:space:]] ]] || continue
    read -r test reason <<<"$line"
    [[ -n "$reason" ]] || die "$IGNORES: '$test' has no reason; write why it is ignored after it"
    printf '%s\n' "$test"
  done <"$IGNORES"
}

ensure_venv
validate=("$VENV/bin/python" "$K8S_DIR/validate.py" --kubernetes-version "$KUBERNETES_VERSION" --cache "$SCHEMAS")
run "${validate[@]}" --fetch
run "${validate[@]}" --self-test --quiet

# kustomize's own reading of kustomization.yaml (namespace, images), where kubectl is installed; offline.
if command -v kubectl >/dev/null; then
  run kubectl kustomize "$K8S_DIR" >/dev/null
else
  log "kubectl not found: kustomization.yaml not rendered (validate.py checked its resource list)"
fi

if [[ -n "$LINT" ]]; then
  ensure_kube_score
  # The resources kustomize applies: validate.py checked that kustomization.yaml lists every manifest but the example
  # Secrets (kube-score skips the Strimzi and KEDA kinds it does not know).
  manifests=()
  for f in "$K8S_DIR"/*.yaml; do [[ "$f" =~ /(kustomization|secret\.example)\.yaml$ ]] || manifests+=("$f"); done
  # (A command substitution, not a process substitution, so that a failure stops the script under set -e.)
  ignores="$(ignored_tests)"
  tests=()
  [[ -z "$ignores" ]] || mapfile -t tests <<<"$ignores"
  # Two optional checks the pods meet, switched on; the other optional ones want requests equal to limits, which
  # the pods do not do on purpose (a drain may use more CPU than the request).
  args=(score --kubernetes-version "v$KUBERNETES_VERSION" --output-format ci --exit-one-on-warning
    --enable-optional-test container-seccomp-profile --enable-optional-test container-ports-check)
  for test in "${tests[@]}"; do
    args+=(--ignore-test "$test")
  done
  show "$KUBE_SCORE" "${args[@]}" "${manifests[@]#"$ROOT_DIR/"}"
  if ! out="$("$KUBE_SCORE" "${args[@]}" "${manifests[@]}" 2>&1)"; then
    printf '%s\n' "$out" | grep -Ev '^\[(OK|SKIPPED)\]' >&2 || true
    die "kube-score found what the manifests or deploy/k8s/kube-score-ignore.txt must answer (above)"
  fi
  log "kube-score: $(grep -c '^\[OK\]' <<<"$out") checks OK, ${#tests[@]} ignored (deploy/k8s/kube-score-ignore.txt)"
fi

log "deploy/k8s validated in $((SECONDS - started)) s"
