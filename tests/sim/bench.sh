#!/bin/sh
# Scale benchmark of the simulated API server (release build). Arguments go to the sim_bench
# example, e.g.
#   tests/sim/bench.sh --clusters 100 --objects 10000
set -eu
cd "$(dirname "$0")/../.."
exec cargo run --release -q -p kube-sim --example sim_bench -- "$@"
