#!/usr/bin/env bash
# Controller benchmark: export->import latency and controller RSS for 10, 50 and 100 simulated
# members with 1,000 exported services. Builds release binaries first (BENCH_PROFILE=dev uses
# the debug build instead, for a quick run on a small machine).
#
#   mesh-controller/bench/run.sh [--members 10,50,100] [--services 1000] [--probes 30] [--restart]
#
# --restart: after the probes, stop the controller, export one more service while it is down,
# start it again, and report the writes it made (the new export's apart) and the time until
# the new export is imported everywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile="${BENCH_PROFILE:-release}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "$profile" = dev ]; then dir=debug; else dir="$profile"; fi
cargo build --profile "$profile" -p mesh-controller --bin mesh-controller
exec cargo bench --profile "$profile" -p mesh-controller --bench controller -- \
    --controller "$target/$dir/mesh-controller" "$@"
