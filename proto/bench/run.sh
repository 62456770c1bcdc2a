#!/usr/bin/env bash
# One change delivered to many connected DNS proxies over the discovery API.
# Usage: proto/bench/run.sh [--clients N] [--rounds R] [--services S]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p mesh-proto --example stream_bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "${CARGO_TARGET_DIR:-target}/release/examples/stream_bench" "$@"
