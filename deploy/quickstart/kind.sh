#!/usr/bin/env bash
# Isthmus quickstart on kind: three clusters on two networks (east and central on net-east,
# west on net-west), Istio multi-primary multi-network with east-west gateways, one shared
# root CA, Isthmus with its controller in east, and a sample service exported from east and
# west and called from central by its clusterset name.
#
# Needs: docker, kind, kubectl, istioctl, cargo. Run from anywhere; state goes to $WORK
# (default ./isthmus-quickstart). Delete with: kind delete cluster --name isthmus-<name>.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QS="$ROOT/deploy/quickstart"
WORK=${WORK:-$PWD/isthmus-quickstart}
CLUSTERS=(east central west)
declare -A NETWORK=([east]=net-east [central]=net-east [west]=net-west)
HUB=east

for tool in docker kind kubectl istioctl cargo; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
mkdir -p "$WORK"/{admin,isthmus,ca}
kc() { kubectl --kubeconfig "$WORK/admin/$1.kubeconfig" "${@:2}"; }

echo "== build the binaries and images"
cargo build --release --locked -p isthmus -p mesh-controller -p dns-proxy --manifest-path "$ROOT/Cargo.toml"
export PATH="$ROOT/target/release:$PATH"
VERSION=$(mesh-controller --version | awk '{print $2}')
docker build --target mesh-controller -t "isthmus/mesh-controller:$VERSION" "$ROOT"
docker build --target dns-proxy -t "isthmus/dns-proxy:$VERSION" "$ROOT"

echo "== create the clusters"
for c in "${CLUSTERS[@]}"; do
  kind get clusters | grep -qx "isthmus-$c" || kind create cluster --name "isthmus-$c"
  # Host access for this script; in-cluster (docker network) addresses for the controller,
  # which also puts them into the remote secrets istiod uses.
  kind get kubeconfig --name "isthmus-$c" > "$WORK/admin/$c.kubeconfig"
  kind get kubeconfig --internal --name "isthmus-$c" > "$WORK/admin/$c.kubeconfig.internal"
  kind load docker-image --name "isthmus-$c" "isthmus/mesh-controller:$VERSION" "isthmus/dns-proxy:$VERSION"
  kc "$c" label node --all isthmus.io/gateway=true --overwrite
done

ISTIO_VERSION=$(istioctl version --remote=false 2>/dev/null | grep -oE '[0-9]+\.[0-9]+' | head -n1)
echo "== istioctl $ISTIO_VERSION; the Istio settings of every member, from the clusterset"
# Remote secrets are not rendered: the controller writes them from each member's reader token.
isthmus gateway render --clusterset "$QS/clusterset.yaml" --output "$WORK/istio" --no-remote-secrets

echo "== before istiod: the MCS CRDs, istio-system with its network, and cacerts"
# istiod picks plugged-in cacerts or a self-signed root once, at start: cacerts goes first.
[ -f "$WORK/ca/root/root-cert.pem" ] || isthmus ca init --out "$WORK/ca/root"
for c in "${CLUSTERS[@]}"; do
  isthmus install --role member --cluster "$c" --network "${NETWORK[$c]}" --crds-only | kc "$c" apply -f -
  kc "$c" apply -f "$WORK/istio/$c/namespace.yaml"
  isthmus ca issue --root "$WORK/ca/root" --cluster "$c" --format secret --out - --force | kc "$c" apply -f -
done

echo "== istiod with the generated settings (MCS hosts on), then the east-west gateways"
for c in "${CLUSTERS[@]}"; do
  istioctl --kubeconfig "$WORK/admin/$c.kubeconfig" install -y -f "$WORK/istio/$c/istiod.istio-operator.yaml"
  istioctl --kubeconfig "$WORK/admin/$c.kubeconfig" install -y -f "$WORK/istio/$c/eastwest-gateway.istio-operator.yaml"
  kc "$c" apply -f "$WORK/istio/$c/expose-services.yaml"
done

echo "== Isthmus in every member (with Istio's reader identity), then the controller in $HUB"
cp "$QS/clusterset.yaml" "$WORK/isthmus/clusterset.yaml"
for c in "${CLUSTERS[@]}"; do
  isthmus install --role member --cluster "$c" --network "${NETWORK[$c]}" --istio-version "$ISTIO_VERSION" | kc "$c" apply -f -
  server=$(kubectl --kubeconfig "$WORK/admin/$c.kubeconfig.internal" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  KUBECONFIG="$WORK/admin/$c.kubeconfig" "$ROOT/deploy/scripts/mint-member-kubeconfig.sh" "$c" "$server" > "$WORK/isthmus/$c.kubeconfig"
  kc "$c" -n isthmus-system rollout status deployment/isthmus-dns-proxy --timeout=180s
  KUBECONFIG="$WORK/admin/$c.kubeconfig" "$ROOT/deploy/scripts/coredns-delegate.sh"
done
isthmus install --role hub | kc "$HUB" apply -f -
# The discovery API's server certificate (DNS proxies here use --source kube and need no client one).
isthmus ca leaf --ca "$WORK/ca/root" --out - --format secret --force --server-dns isthmus-discovery.isthmus-system.svc | kc "$HUB" apply -f -
kc "$HUB" -n isthmus-system create secret generic isthmus-clusterset --from-file="$WORK/isthmus" \
  --dry-run=client -o yaml | kc "$HUB" apply -f -
kc "$HUB" -n isthmus-system rollout restart deployment/isthmus-mesh-controller
kc "$HUB" -n isthmus-system rollout status deployment/isthmus-mesh-controller --timeout=180s

echo "== the sample: helloworld exported from east and west, called from central"
for c in "${CLUSTERS[@]}"; do kc "$c" apply -f "$QS/sample.yaml"; done
for c in east west; do kc "$c" apply -f "$QS/sample-server.yaml"; done
kc central apply -f "$QS/sample-client.yaml"
kc central -n sample rollout status deployment/client --timeout=180s
for _ in $(seq 1 60); do
  kc central -n sample get serviceimport helloworld >/dev/null 2>&1 && break
  sleep 2
done
kc central -n sample get serviceimport helloworld -o wide
for _ in 1 2 3 4; do
  kc central -n sample exec deploy/client -c client -- curl -s --max-time 5 http://helloworld.sample.svc.clusterset.local:5000/hello
done
echo "done: kubeconfigs are in $WORK/admin (host access)"
