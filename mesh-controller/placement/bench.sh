#!/usr/bin/env bash
# Placement benchmark: 1,000 clusters x 10,000 workloads on one thread (bounded to 60 s).
# Usage: mesh-controller/placement/bench.sh [--clusters N] [--workloads M] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p isthmus-placement --bin isthmus-place-bench
# pin to one core when taskset is available, so the figure is per core
if command -v taskset >/dev/null 2>&1; then
    exec taskset -c 0 ./target/release/isthmus-place-bench "$@"
fi
exec ./target/release/isthmus-place-bench "$@"
