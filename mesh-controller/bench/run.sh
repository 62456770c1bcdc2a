#!/usr/bin/env bash
# Controller benchmark: export->import latency and controller RSS for 10, 50 and 100 simulated
# members with 1,000 exported services. Builds release binaries first.
#
#   mesh-controller/bench/run.sh [--members 10,50,100] [--services 1000] [--probes 30]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p mesh-controller --bin mesh-controller
exec cargo bench -p mesh-controller --bench controller -- \
    --controller "$PWD/target/release/mesh-controller" "$@"
