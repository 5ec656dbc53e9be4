#!/usr/bin/env bash
# The plaintext peers of issue 6 under LanChat's workloads (docs/BENCHMARKS.md, "Eighth session: the plaintext
# peers"): each server on core 0, peer_bench on core 1, only on 127.0.0.1, with the counts of
# docs/floors/series.sh; given a LanChat release build folder, its lanchat-bench runs in turn with them, run for
# run. Needs the Debian packages redis-server, ngircd and mosquitto (none is started as a service here; each runs
# in the foreground from a configuration written to a temporary folder, on ports 46379, 46667 and 41883).
#   apt-get install -y redis-server ngircd mosquitto && docs/peers/run.sh .build/release
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -Wall -o "$work/peer_bench" "$here/peer_bench.c"

cat > "$work/ngircd.conf" <<EOF
[Global]
	Name = bench.lan
	Info = peer bench
	Listen = 127.0.0.1
	Ports = 46667
	MotdPhrase = bench
	PidFile = $work/ngircd.pid
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	# No flood penalties: they would throttle the one fast sender.
	MaxPenaltyTime = 0
	PingTimeout = 600
	PongTimeout = 600
[Options]
	DNS = no
	Ident = no
	PAM = no
EOF
cat > "$work/mosquitto.conf" <<EOF
listener 41883 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
log_dest none
EOF

run() { echo "[$(date -u +%H:%M:%S)] $1 $2"; shift 2; "$@" 2>&1 | tail -1; }
# start NAME PORT COMMAND...: starts a server on core 0 and waits until it accepts connections
start() {
    local name=$1 port=$2; shift 2
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is taken: stop what listens there" >&2; exit 1; fi
    taskset -c 0 "$@" > "$work/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
        sleep 0.1
    done
    echo "$name did not start: $(tail -3 "$work/$name.log")" >&2
    exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
bench() { PEER_PID=$pid taskset -c 1 "$work/peer_bench" "$@"; }

start_redis() { start redis 46379 redis-server --port 46379 --bind 127.0.0.1 --save '' --appendonly no --maxclients 19000 --protected-mode no; }
start_ngircd() { start ngircd 46667 ngircd -n -f "$work/ngircd.conf"; }
start_mosquitto() { start mosquitto 41883 mosquitto -c "$work/mosquitto.conf"; }

# each COUNT NAME LANCHAT-ARGUMENTS -- PEER-ARGUMENTS: LanChat (if a build was given), Redis and ngIRCd in turn,
# COUNT times, so that all three are measured in the same minutes of the VM.
each() {
    local count=$1 name=$2; shift 2
    local lanchat=() peer=()
    while [ "$1" != -- ]; do lanchat+=("$1"); shift; done
    shift
    peer=("$@")
    for _ in $(seq "$count"); do
        [ -n "$build" ] && run lanchat "$name" taskset -c 1 "$build/lanchat-bench" "${lanchat[@]}" --server-cpu 0
        pid=$redis_pid; run redis "$name" bench redis 46379 "${peer[@]}"
        pid=$ngircd_pid; run irc "$name" bench irc 46667 "${peer[@]}"
    done
}
build=${1:-}
start_redis; redis_pid=$pid
start_ngircd; ngircd_pid=$pid
each 3 fanout100 fanout --receivers 100 --messages 20000 --window 2048 -- fanout 100 20000 2048
each 3 fanout1000 fanout --receivers 1000 --messages 3000 --window 256 -- fanout 1000 3000 256
each 3 direct256 direct --pairs 100 --messages 5000 --window 256 -- direct 100 5000 256
each 2 direct64 direct --pairs 100 --messages 3000 --window 64 -- direct 100 3000 64
each 2 fanout-latency fanout-latency --receivers 1000 --rate 20 --messages 100 -- fanout-latency 1000 20 100
each 2 direct-latency direct-latency --pairs 100 --rate 200 --messages 2000 -- direct-latency 100 200 2000
pid=$redis_pid; stop
pid=$ngircd_pid; stop

# Idle memory on a fresh server each time, sampled 3 s (as lanchat-bench does by default) and 30 s after the last
# connection: the 30 s include every connection's first keep-alive (LanChat and ngIRCd ping after 30 s of silence).
for settle in 3 30; do
    [ -n "$build" ] && run lanchat "idle-${settle}s" "$build/lanchat-bench" idle --clients 10000 --server-cpu 0 --settle-seconds "$settle"
    for peer in redis:46379 irc:46667 mqtt:41883; do
        protocol=${peer%:*} port=${peer#*:}
        case $protocol in redis) start_redis ;; irc) start_ngircd ;; mqtt) start_mosquitto ;; esac
        PEER_SETTLE_S=$settle run "$protocol" "idle-${settle}s" bench "$protocol" "$port" idle 10000
        stop
    done
done
