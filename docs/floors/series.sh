#!/usr/bin/env bash
# One series of the benchmark commands in docs/BENCHMARKS.md, alternating run for run between builds, then the
# floors. Each argument is a folder holding a release build's `lanchat` and `lanchat-bench` (e.g. .build/release
# and a copy of an older build's); figures print one line per run, after a line naming the build and workload.
#   docs/floors/series.sh .build/release /tmp/older-build
# Needs /tmp/loopback_fanout (gcc -O2 -pthread -o /tmp/loopback_fanout docs/floors/loopback_fanout.c) for the
# fan-out floor, and plain_relay.py / plain_client.py from BENCHMARKS.md in FORWARDER_DIR for the direct floor.
set -u
builds=("$@")
run() { echo "[$(date -u +%H:%M:%S)] $1 $2"; shift 2; "$@" 2>&1 | tail -1; }
each() { # each COUNT NAME ARGS... : every build COUNT times, alternating
    local count=$1 name=$2; shift 2
    for _ in $(seq "$count"); do
        for build in "${builds[@]}"; do run "$build" "$name" taskset -c 1 "$build/lanchat-bench" "$@" --server-cpu 0; done
    done
}
each 3 fanout100 fanout --receivers 100 --messages 20000 --window 2048
each 3 fanout1000 fanout --receivers 1000 --messages 3000 --window 256
each 3 direct256 direct --pairs 100 --messages 5000 --window 256
each 2 direct64 direct --pairs 100 --messages 3000 --window 64
each 2 fanout-latency fanout-latency --receivers 1000 --rate 20 --messages 100
each 2 direct-latency direct-latency --pairs 100 --rate 200 --messages 2000
for _ in 1 2; do for build in "${builds[@]}"; do run "$build" idle "$build/lanchat-bench" idle --clients 10000 --server-cpu 0; done; done
# The first build only: the server on both cores (shared with the tool), two loops against one.
for _ in 1 2; do
    for threads in 2 1; do
        run "${builds[0]}" "threads$threads" "${builds[0]}/lanchat-bench" fanout --receivers 100 --messages 20000 --window 2048 --server-cpu 0,1 --server-threads $threads
    done
done
for threads in 2 1; do
    run "${builds[0]}" "threads$threads-1000" "${builds[0]}/lanchat-bench" fanout --receivers 1000 --messages 3000 --window 256 --server-cpu 0,1 --server-threads $threads
done
# Client crypto: the first build on both cores and on one; older builds (without --seal-on-one-thread) on one.
for _ in 1 2; do
    echo "[$(date -u +%H:%M:%S)] ${builds[0]} client-crypto (both cores)"; "${builds[0]}/lanchat-bench" client-crypto
    echo "[$(date -u +%H:%M:%S)] ${builds[0]} client-crypto (one core)"; taskset -c 1 "${builds[0]}/lanchat-bench" client-crypto --seal-on-one-thread
    for build in "${builds[@]:1}"; do echo "[$(date -u +%H:%M:%S)] $build client-crypto"; taskset -c 1 "$build/lanchat-bench" client-crypto; done
    run - x25519 taskset -c 1 openssl speed -seconds 2 ecdhx25519
done
for _ in 1 2; do run - fanout-floor /tmp/loopback_fanout 1000; done
if [ -n "${FORWARDER_DIR:-}" ]; then
    for port in 45681 45682; do
        (taskset -c 0 python3 "$FORWARDER_DIR/plain_relay.py" $port &)
        sleep 0.5
        run - direct-floor taskset -c 1 python3 "$FORWARDER_DIR/plain_client.py" $port
    done
fi
