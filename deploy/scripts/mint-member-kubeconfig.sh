#!/usr/bin/env bash
# Prints the kubeconfig the hub's controller uses for one member cluster: the token of the
# member's isthmus-member ServiceAccount (from the kubernetes.io/service-account-token Secret
# that `isthmus install --role member` creates) and the member's CA.
#
# Usage: mint-member-kubeconfig.sh CLUSTER SERVER [NAMESPACE] > CLUSTER.kubeconfig
#   kubectl must point at the member (KUBECONFIG / current context).
#   SERVER is the member's API server address as the hub's pods reach it.
set -euo pipefail
usage="usage: $0 CLUSTER SERVER [NAMESPACE]"
cluster=${1:?$usage}
server=${2:?$usage}
ns=${3:-isthmus-system}
secret=isthmus-member-token

# The token controller fills the Secret shortly after it is created.
token=""
for _ in $(seq 1 30); do
  token=$(kubectl -n "$ns" get secret "$secret" -o jsonpath='{.data.token}' 2>/dev/null || true)
  [ -n "$token" ] && break
  sleep 1
done
if [ -z "$token" ]; then
  echo "error: secret $ns/$secret has no token; is the member installed (install --role member)?" >&2
  exit 1
fi
ca=$(kubectl -n "$ns" get secret "$secret" -o jsonpath='{.data.ca\.crt}')
token=$(printf '%s' "$token" | base64 -d)

echo "apiVersion: v1"
echo "kind: Config"
echo "clusters:"
echo "- name: $cluster"
echo "  cluster:"
echo "    server: $server"
if [ -n "$ca" ]; then
  echo "    certificate-authority-data: $ca"
fi
echo "users:"
echo "- name: isthmus-member@$cluster"
echo "  user:"
echo "    token: $token"
echo "contexts:"
echo "- name: $cluster"
echo "  context:"
echo "    cluster: $cluster"
echo "    user: isthmus-member@$cluster"
echo "current-context: $cluster"
