#!/usr/bin/env bash
# Times the clusterset CA commands through the release binary.
#
# Usage: gateway-config/testdata/ca/bench.sh [CLUSTERS]
#   CLUSTERS: how many member clusters to issue, rotate and renew (default 100, at most 1000).
#
# Everything happens in a temporary directory, which is removed at exit. It is made under
# CA_BENCH_DIR when set (for example /dev/shm, to leave out the cost of fsync), else under TMPDIR.
set -euo pipefail

N=${1:-100}
if ! [[ "$N" =~ ^[0-9]+$ ]] || ((N < 1 || N > 1000)); then
    echo "CLUSTERS must be 1..1000" >&2
    exit 2
fi

ROOT_DIR=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT_DIR"
cargo build --release -q -p isthmus --bin isthmus
BIN="${CARGO_TARGET_DIR:-$ROOT_DIR/target}/release/isthmus"
WORK=$(mktemp -d -p "${CA_BENCH_DIR:-${TMPDIR:-/tmp}}")
trap 'rm -rf "$WORK"' EXIT

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

clusters=$(for i in $(seq 1 "$N"); do printf 'c%d,' "$i"; done)
clusters=${clusters%,}

t=$(now_ns)
"$BIN" ca init --out "$WORK/root-old" >/dev/null
echo "ca init (ecdsa-p256): $(ms_since "$t") ms"

for run in 1 2 3; do
    t=$(now_ns)
    "$BIN" ca init --out "$WORK/rsa-$run" --key-type rsa-4096 >/dev/null
    echo "ca init (rsa-4096) run $run: $(ms_since "$t") ms"
done

t=$(now_ns)
for i in $(seq 1 "$N"); do
    "$BIN" ca issue --root "$WORK/root-old" --cluster "c$i" --out "$WORK/current/c$i" >/dev/null
done
total=$(ms_since "$t")
echo "ca issue, one process per cluster: $N clusters in $total ms ($((total * 1000 / N)) us per cluster)"

t=$(now_ns)
for i in $(seq 1 "$N"); do
    "$BIN" ca verify "$WORK/current/c$i" >/dev/null
done
total=$(ms_since "$t")
echo "ca verify, one process per bundle: $N bundles in $total ms ($((total * 1000 / N)) us per bundle)"

t=$(now_ns)
"$BIN" ca leaf --ca "$WORK/current/c1" --out "$WORK/leaf/server" \
    --server-dns isthmus-discovery.isthmus-system.svc >/dev/null
for i in $(seq 1 "$N"); do
    "$BIN" ca leaf --ca "$WORK/current/c$i" --out "$WORK/leaf/c$i" \
        --dns-proxy-cluster "c$i" --trust-domain cluster.local >/dev/null
done
total=$(ms_since "$t")
echo "ca leaf, one process per certificate: 1 server + $N DNS proxy clients in $total ms ($((total * 1000 / (N + 1))) us per certificate)"

"$BIN" ca init --out "$WORK/root-new" >/dev/null
prev="$WORK/current"
for step in 1 2 3; do
    t=$(now_ns)
    "$BIN" ca rotate --root-old "$WORK/root-old" --root-new "$WORK/root-new" --clusters "$clusters" \
        --step "$step" --bundle-dir "$prev" --out "$WORK/step$step" >/dev/null
    echo "ca rotate --step $step, one process: $N clusters in $(ms_since "$t") ms"
    prev="$WORK/step$step"
done

t=$(now_ns)
"$BIN" ca renew --root "$WORK/root-old" --bundle-dir "$WORK/current" --threshold-days 30 >/dev/null
echo "ca renew, all $N kept (each checked): $(ms_since "$t") ms"
t=$(now_ns)
"$BIN" ca renew --root "$WORK/root-old" --bundle-dir "$WORK/current" --threshold-days 800 >/dev/null
echo "ca renew, all $N re-issued: $(ms_since "$t") ms"
