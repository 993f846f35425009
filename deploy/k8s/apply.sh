#!/usr/bin/env bash
# Install or upgrade IronPath on the current kubectl context, in the order plain kustomize cannot
# express (it has no hooks):
#
#   1. the namespace and the ConfigMaps            (the Secret `ironpath-secrets` must exist already)
#   2. this release's migration Jobs, and wait until each completed
#   3. everything else: the Deployments roll, the gateway last in no particular order
#
# A failed migration stops the script at step 2, before any pod is replaced.
#
#   deploy/k8s/apply.sh deploy/k8s/overlays/prod [timeout, default 10m]
set -euo pipefail

overlay=${1:?usage: apply.sh OVERLAY_DIR [TIMEOUT]}
timeout=${2:-10m}
kubectl=${KUBECTL:-kubectl}
namespace=ironpath
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT

"$kubectl" kustomize "$overlay" > "$rendered"

if ! "$kubectl" get namespace "$namespace" > /dev/null 2>&1; then
    "$kubectl" apply -f "$rendered" -l app.kubernetes.io/component=config
fi
if ! "$kubectl" -n "$namespace" get secret ironpath-secrets > /dev/null 2>&1; then
    echo "apply.sh: create the Secret ironpath-secrets in namespace $namespace first (deploy/k8s/README.md)" >&2
    exit 1
fi
"$kubectl" apply -f "$rendered" -l app.kubernetes.io/component=config

# A Job's pod template is immutable: the previous release's Jobs go, this release's run.
"$kubectl" -n "$namespace" delete job -l app.kubernetes.io/component=migration --ignore-not-found --wait=true
"$kubectl" apply -f "$rendered" -l app.kubernetes.io/component=migration
"$kubectl" -n "$namespace" wait --for=condition=complete --timeout="$timeout" job -l app.kubernetes.io/component=migration

"$kubectl" apply -f "$rendered"
for deployment in program progress feedback gateway; do
    "$kubectl" -n "$namespace" rollout status "deployment/$deployment" --timeout="$timeout"
done
