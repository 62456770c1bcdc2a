#!/bin/sh
# Scale benchmark of the simulated API server (release build). Arguments go to sim-bench, e.g.
#   tests/sim/bench.sh --clusters 100 --objects 10000
set -eu
cd "$(dirname "$0")/../.."
exec cargo run --release -q -p kube-sim --bin sim-bench -- "$@"
