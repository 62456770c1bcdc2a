#!/usr/bin/env bash
# Serves the same 10,000 names from dns-proxy, Knot DNS, Unbound (auth-zone) and dnsmasq
# (addn-hosts) and measures each with dnsperf:
#   - saturation:   dnsperf -c 8 -q 200 -T 1 for $DURATION s -> queries/s and loss
#   - fixed rates:  dnsperf -Q 20000 and -Q 100000 for $DURATION s -> server CPU per query
#                   (utime+stime delta from /proc/PID/stat) and p50/p99 latency (from the
#                   per-query latencies dnsperf -v prints)
# The server runs on core 0 (taskset -c 0), dnsperf on core 1.
#
# Usage: dns-proxy/bench/run.sh [--duration SECONDS] [--names N] [--rounds R] [--only proxy,knot,unbound,dnsmasq]
# With --rounds R every server is measured R times, interleaved, so a noisy machine shows up
# as spread between rounds rather than as a bias against one server.
# Needs: a release build (cargo build --release -p dns-proxy), dnsperf, knotd, unbound,
# dnsmasq, python3, taskset. Missing servers are skipped. PROXY_ARGS adds flags to dns-proxy
# (e.g. PROXY_ARGS="--udp-rcvbuf 0" to keep the system default receive buffer).
set -euo pipefail

DURATION=10
NAMES=10000
ONLY="proxy,knot,unbound,dnsmasq"
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --names) NAMES="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROXY="${PROXY:-$ROOT/target/release/dns-proxy}"
WORK="$(mktemp -d /tmp/dns-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
TCK="$(getconf CLK_TCK)"

command -v dnsperf >/dev/null || { echo "SKIP: dnsperf is not installed" >&2; exit 0; }

# --- data: the same names for every server --------------------------------------------
python3 - "$WORK" "$NAMES" <<'PY'
import sys, os
work, n = sys.argv[1], int(sys.argv[2])
def ip(i): return f"242.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
with open(os.path.join(work, "services.yaml"), "w") as f:
    for i in range(n):
        f.write(f"---\napiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {{name: svc-{i}, namespace: bench}}\nspec: {{type: ClusterSetIP, ips: [{ip(i)}], ports: [{{name: http, protocol: TCP, port: 80}}]}}\n")
with open(os.path.join(work, "clusterset.local.zone"), "w") as f:
    f.write("$ORIGIN clusterset.local.\n$TTL 5\n@ SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 1 7200 1800 86400 5\n@ NS ns.dns.clusterset.local.\nns.dns A 127.0.0.1\n")
    for i in range(n):
        f.write(f"svc-{i}.bench.svc A {ip(i)}\n")
with open(os.path.join(work, "hosts"), "w") as f:
    for i in range(n):
        f.write(f"{ip(i)} svc-{i}.bench.svc.clusterset.local\n")
with open(os.path.join(work, "queries"), "w") as f:
    for i in range(n):
        f.write(f"svc-{i}.bench.svc.clusterset.local A\n")
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_dns() { # port
  for _ in $(seq 1 100); do
    if dig @127.0.0.1 -p "$1" +short +time=1 +tries=1 svc-1.bench.svc.clusterset.local A 2>/dev/null | grep -q 242; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not answer" >&2; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# dnsperf run -> prints "qps lost completed"
perf_sat() { # port
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries" -c 8 -q 200 -T 1 -l "$DURATION" > "$WORK/sat.out" 2>&1 || true
  python3 - "$WORK/sat.out" <<'PY'
import sys, re
t = open(sys.argv[1]).read()
qps = re.search(r"Queries per second:\s+([\d.]+)", t)
lost = re.search(r"Queries lost:\s+(\d+)\s+\(([\d.]+)%\)", t)
done = re.search(r"Queries completed:\s+(\d+)", t)
print(qps.group(1) if qps else "0", f"{lost.group(1)}({lost.group(2)}%)" if lost else "?", done.group(1) if done else "0")
PY
}

perf_rate() { # port pid rate -> "cpu_us_per_query p50_us p99_us lost"
  local before after
  before="$(cpu_ticks "$2")"
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries" -c 8 -q 500 -T 1 -Q "$3" -l "$DURATION" -v > "$WORK/rate.out" 2>&1 || true
  after="$(cpu_ticks "$2")"
  python3 - "$WORK/rate.out" "$before" "$after" "$TCK" <<'PY'
import sys, re
path, before, after, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lat = []
text = []
with open(path) as f:
    for line in f:
        if line.startswith("> "):
            try: lat.append(float(line.split()[-1]))
            except ValueError: pass
        else:
            text.append(line)
t = "".join(text)
done = re.search(r"Queries completed:\s+(\d+)", t)
lost = re.search(r"Queries lost:\s+(\d+)\s+\(([\d.]+)%\)", t)
n = int(done.group(1)) if done else 0
cpu = (after - before) / tck
lat.sort()
def pct(p): return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6 if lat else float("nan")
per = cpu / n * 1e6 if n else float("nan")
print(f"{per:.2f} {pct(0.50):.0f} {pct(0.99):.0f} {lost.group(1) + '(' + lost.group(2) + '%)' if lost else '?'}")
PY
}

measure() { # name port pid
  local sat r20 r100
  sat="$(perf_sat "$2")"
  r20="$(perf_rate "$2" "$3" 20000)"
  r100="$(perf_rate "$2" "$3" 100000)"
  read -r qps lost _ <<<"$sat"
  read -r c20 p50_20 p99_20 l20 <<<"$r20"
  read -r c100 p50_100 p99_100 l100 <<<"$r100"
  printf "| %-8s | %9.0f | %-10s | %6s | %5s | %5s | %-9s | %6s | %5s | %5s | %-9s |\n" \
    "$1" "$qps" "$lost" "$c20" "$p50_20" "$p99_20" "$l20" "$c100" "$p50_100" "$p99_100" "$l100"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, names=$NAMES, ${DURATION}s per measurement"
echo "| server   | sat. q/s  | sat. lost  | CPU µs/q @20k | p50 µs | p99 µs | lost @20k | CPU µs/q @100k | p50 µs | p99 µs | lost @100k |"
echo "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---|"

for round in $(seq 1 "$ROUNDS"); do
if [[ ",$ONLY," == *",proxy,"* ]]; then
  if [ -x "$PROXY" ]; then
    port="$(free_port)"
    taskset -c 0 "$PROXY" --listen "127.0.0.1:$port" --source "file:$WORK/services.yaml" --no-forward --udp-workers 1 ${PROXY_ARGS:-} > "$WORK/proxy.out" 2> "$WORK/proxy.err" &
    pid=$!; PIDS+=("$pid")
    wait_dns "$port"
    rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    measure proxy "$port" "$pid"
    echo "proxy RSS with $NAMES services: $((rss_kb / 1024)) MiB (after load: $(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 )) MiB)" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
  else
    echo "SKIP: $PROXY not built (cargo build --release -p dns-proxy)" >&2
  fi
fi

if [[ ",$ONLY," == *",knot,"* ]] && command -v knotd >/dev/null; then
  port="$(free_port)"
  mkdir -p "$WORK/knot"
  cp "$WORK/clusterset.local.zone" "$WORK/knot/"
  cat > "$WORK/knot.conf" <<EOF2
server:
  rundir: "$WORK/knot"
  listen: 127.0.0.1@$port
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$WORK/knot"
zone:
  - domain: clusterset.local
    storage: "$WORK/knot"
    file: clusterset.local.zone
    zonefile-sync: -1
    journal-content: none
EOF2
  taskset -c 0 knotd -c "$WORK/knot.conf" > "$WORK/knot.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_dns "$port"
  measure knot "$port" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [[ ",$ONLY," == *",unbound,"* ]] && command -v unbound >/dev/null; then
  port="$(free_port)"
  cat > "$WORK/unbound.conf" <<EOF2
server:
  interface: 127.0.0.1
  port: $port
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  use-syslog: no
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  local-zone: "clusterset.local." nodefault
  domain-insecure: "clusterset.local"
  module-config: "iterator"
  auto-trust-anchor-file: ""
auth-zone:
  name: "clusterset.local"
  zonefile: "$WORK/clusterset.local.zone"
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
EOF2
  taskset -c 0 unbound -d -c "$WORK/unbound.conf" > "$WORK/unbound.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_dns "$port"
  measure unbound "$port" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [[ ",$ONLY," == *",dnsmasq,"* ]] && command -v dnsmasq >/dev/null; then
  port="$(free_port)"
  taskset -c 0 dnsmasq -k --port="$port" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
    --addn-hosts="$WORK/hosts" --local=/clusterset.local/ --pid-file="$WORK/dnsmasq.pid" --user="$(id -un)" \
    --cache-size=10000 --log-facility=- > "$WORK/dnsmasq.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_dns "$port"
  measure dnsmasq "$port" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi
done
