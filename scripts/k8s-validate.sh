#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s/ offline, without a cluster (docs/kubernetes.md, "What was
# validated"): creates or refreshes the Python venv, then deploy/k8s/checks.py runs the checks (see --help).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

VENV="${K8S_VENV:-$LOCAL_DIR/k8s-venv}"
REQUIREMENTS="$ROOT_DIR/deploy/k8s/requirements.txt"
command -v python3 >/dev/null ||
  die "python3 not found: it runs deploy/k8s/validate.py (Debian: apt-get install python3 python3-venv)"
# The venv is rebuilt when requirements.txt or python3 changes: both are stamped into it once pip succeeded.
want="$(python3 --version) $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$want" != "$(cat "$VENV/.stamp" 2>/dev/null || true)" ]]; then
  # Debian's python3 creates venvs only with python3-venv installed.
  python3 -c 'import ensurepip, venv' 2>/dev/null || install_packages python3-venv
  log "creating $VENV with the pinned kubernetes-validate (deploy/k8s/requirements.txt)"
  rm -rf "$VENV"
  run python3 -m venv "$VENV"
  run "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  printf '%s\n' "$want" >"$VENV/.stamp"
fi
exec "$VENV/bin/python" "$ROOT_DIR/deploy/k8s/checks.py" "$@"
