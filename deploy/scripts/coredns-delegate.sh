#!/usr/bin/env bash
# Delegates clusterset.local to the Isthmus DNS proxy: adds the server block of
# deploy/member/coredns-stub-domain.conf, with the ClusterIP of the isthmus-dns-proxy Service,
# to the Corefile of the coredns ConfigMap (kube-system). Running it again replaces the block.
#
# Usage: coredns-delegate.sh [NAMESPACE]    (kubectl must point at the member)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=${1:-isthmus-system}

ip=$(kubectl -n "$ns" get service isthmus-dns-proxy -o jsonpath='{.spec.clusterIP}')
if [ -z "$ip" ]; then
  echo "error: service $ns/isthmus-dns-proxy has no ClusterIP" >&2
  exit 1
fi
corefile=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
# Drop an earlier clusterset.local block (from its first line to the closing brace).
corefile=$(printf '%s\n' "$corefile" | awk '/^clusterset\.local:53 *\{/ {skip=1} !skip {print} skip && /^\}/ {skip=0}')
block=$(sed -e '/^#/d' -e "s/DNS_PROXY_CLUSTER_IP/$ip/" "$here/../member/coredns-stub-domain.conf")

kubectl -n kube-system create configmap coredns \
  --from-literal=Corefile="$corefile"$'\n'"$block"$'\n' \
  --dry-run=client -o yaml | kubectl replace -f -
echo "coredns: clusterset.local -> $ip"
