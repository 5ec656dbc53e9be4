#!/usr/bin/env bash
# The relay's user and kernel CPU time per delivery while `lanchat-bench fanout-latency` sends at a steady rate
# (docs/BENCHMARKS.md, "Ninth session"). It samples /proc/PID/stat every half second and keeps the paced phase:
# from the first sample after the last half second without server CPU (the tool sealing ahead) to the one
# before the last growth (the clients closing). Start the server yourself, pinned like the benchmark:
#   taskset -c 0 .build/release/lanchat server run --host 127.0.0.1 --port 0 --data /tmp/split --threads 1 \
#       --max-messages-per-second 100000000 --outbound-buffer-bytes 67108864 &
#   docs/experiments/cpu_split.sh PID PORT [RATE=20] [MESSAGES=400] [BENCH=.build/release/lanchat-bench]
set -eu
pid=$1 port=$2 rate=${3:-20} messages=${4:-400} bench=${5:-.build/release/lanchat-bench} receivers=1000
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
taskset -c 1 "$bench" fanout-latency --receivers "$receivers" --server "127.0.0.1:$port" --server-pid "$pid" --rate "$rate" --messages "$messages" &
tool=$!
while kill -0 "$tool" 2>/dev/null; do
    echo "$(date +%s.%N) $(cut -d' ' -f14,15 "/proc/$pid/stat")" >> "$samples"
    sleep 0.5
done
wait "$tool"
python3 - "$samples" "$rate" "$receivers" "$(getconf CLK_TCK)" <<'EOF'
import sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
rate, receivers, ticks = (float(value) for value in sys.argv[2:5])
cpu = [user + kernel for _, user, kernel in rows]
grew = [i for i in range(1, len(rows)) if cpu[i] > cpu[i - 1]]
last = grew[-1] - 1
still = [i for i in range(1, last) if cpu[i] == cpu[i - 1]]
first = still[-1] + 2
seconds = rows[last][0] - rows[first][0]
deliveries = seconds * rate * receivers
user = (rows[last][1] - rows[first][1]) / ticks
kernel = (rows[last][2] - rows[first][2]) / ticks
print(f"window_s={seconds:.1f} user_us_per_delivery={1e6 * user / deliveries:.2f} "
      f"kernel_us_per_delivery={1e6 * kernel / deliveries:.2f} total={1e6 * (user + kernel) / deliveries:.2f}")
EOF
