#!/usr/bin/env bash
# Placement benchmark: 1,000 clusters x 10,000 workloads on one thread (bounded to 60 s).
# Usage: placement/bench.sh [--clusters N] [--workloads M] [--seconds S]
# The run is single-threaded, so it uses one core; it reports wall-clock throughput and,
# on Linux, decisions per CPU-second (robust when other processes share the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -p isthmus-placement --example place_bench -- "$@"
