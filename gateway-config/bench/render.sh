#!/usr/bin/env bash
# Times `isthmus gateway render` for generated clustersets of N members, each with a
# kubeconfig (so every member gets the remote secrets of all others: N*(N-1) secrets).
#
# Usage: gateway-config/bench/render.sh [--clusters "10 50 100"] [--runs 3]
# Builds the release binary first. Each run is bounded by `timeout 120`.
set -euo pipefail

clusters="10 50 100"
runs=3
while (( "$#" )); do
  case "$1" in
    --clusters) clusters=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release -q -p isthmus --bin isthmus --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/isthmus"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '| clusters | networks | files | output | remote secrets | wall time (best of %s) |\n|---|---|---|---|---|---|\n' "$runs"
for n in $clusters; do
  dir="$work/cs-$n"
  mkdir -p "$dir/kc"
  {
    echo "meshID: bench"
    echo "members:"
    for i in $(seq 1 "$n"); do
      net="net-$(( i % 4 ))"
      echo "  - name: c$i"
      echo "    network: $net"
      echo "    kubeconfig: kc/c$i.yaml"
      if (( i % 3 == 0 )); then
        echo "    eastWestGateway: {exposure: Static, addresses: [192.0.2.$(( i % 250 + 1 ))]}"
      fi
      cat > "$dir/kc/c$i.yaml" <<KC
current-context: c$i
clusters: [{name: c$i, cluster: {server: "https://10.0.$(( i / 250 )).$(( i % 250 + 1 )):6443", certificate-authority-data: Y2FEYXRh}}]
contexts: [{name: c$i, context: {cluster: c$i, user: reader}}]
users: [{name: reader, user: {token: token-of-c$i}}]
KC
    done
  } > "$dir/clusterset.yaml"
  best=""
  for _ in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    timeout 120 "$bin" gateway render --clusterset "$dir/clusterset.yaml" --output "$dir/out" 2>/dev/null
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc)
    if [[ -z "$best" ]] || (( $(echo "$t < $best" | bc) )); then best=$t; fi
  done
  files=$(find "$dir/out" -type f -name '*.yaml' | wc -l)
  bytes=$(du -sb "$dir/out" | cut -f1)
  secrets=$(cat "$dir"/out/*/remote-secrets.yaml | grep -c '^kind: Secret$')
  printf '| %s | 4 | %s | %s KiB | %s | %.3f s |\n' "$n" "$files" "$(( bytes / 1024 ))" "$secrets" "$best"
done
