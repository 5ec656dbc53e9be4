#!/usr/bin/env python3
"""Live heap per connection from two heaptrack recordings of the relay killed while idle clients were connected.

    B=.build/release
    heaptrack -o /tmp/h2000 $B/lanchat server run --host 127.0.0.1 --port 0 --data /tmp/hd --threads 1 &
    $B/lanchat-bench idle --clients 2000 --server 127.0.0.1:PORT --server-pid PID &
    # once /proc/PID/fd holds the 2,000 sockets: kill -9 PID (so that nothing is freed), then again with 4,000
    python3 docs/experiments/live_heap.py /tmp/h2000.zst /tmp/h4000.zst 2000

Prints, per allocation site (the first DEPTH frames outside the allocator, 3 unless set), the bytes asked for and the allocations
that the extra clients added, divided by their number; then the total. Reads heaptrack's raw format (zstd)."""
import collections
import os
import subprocess
import sys

ALLOCATOR_FRAMES = ("swift_slowAlloc", "swift_allocObject", "malloc", "calloc", "realloc", "operator new",
                    "posix_memalign", "aligned_alloc", "CRYPTO_malloc", "CRYPTO_zalloc", "sqlite3Malloc",
                    "sqlite3MemMalloc", "mallocWithAlarm", "dbMallocRawFinish", "sqlite3DbMallocRaw")


def live_sites(path, depth):
    strings, functions, traces, infos = [""], [None], [None], []
    live = collections.Counter()
    stream = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, text=True, errors="replace").stdout
    for line in stream:
        kind, rest = line[:1], line[2:].rstrip("\n")
        if kind == "+":
            live[int(rest, 16)] += 1
        elif kind == "-":
            live[int(rest, 16)] -= 1
        elif kind == "a":
            size, trace = rest.split()
            infos.append((int(size, 16), int(trace, 16)))
        elif kind == "s":
            strings.append(rest.split(" ", 1)[-1])
        elif kind == "i":
            fields = rest.split()
            functions.append(strings[int(fields[2], 16)] if len(fields) > 2 else "?")
        elif kind == "t":
            ip, parent = rest.split()
            traces.append((int(ip, 16), int(parent, 16)))
    sites = collections.defaultdict(lambda: [0, 0])
    for index, count in live.items():
        if count <= 0:
            continue
        size, trace = infos[index]
        names = []
        while trace and len(names) < depth:
            ip, trace = traces[trace]
            name = functions[ip] or "?"
            if not name.startswith(ALLOCATOR_FRAMES):
                names.append(name)
        site = sites[" < ".join(names)]
        site[0] += count * size
        site[1] += count
    return sites


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: live_heap.py FEWER.zst MORE.zst EXTRA_CLIENTS")
    depth = int(os.environ.get("DEPTH", "3"))
    fewer, more, extra = live_sites(sys.argv[1], depth), live_sites(sys.argv[2], depth), int(sys.argv[3])
    rows = []
    for site in set(fewer) | set(more):
        bytes_ = more.get(site, [0, 0])[0] - fewer.get(site, [0, 0])[0]
        count = more.get(site, [0, 0])[1] - fewer.get(site, [0, 0])[1]
        rows.append((bytes_ / extra, count / extra, site))
    rows.sort(key=lambda row: -row[0])
    names = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(r[2] for r in rows),
                           capture_output=True, text=True).stdout.split("\n")
    for (bytes_, count, _), name in zip(rows, names):
        if abs(bytes_) >= 2:
            print(f"{bytes_:8.1f} B {count:5.2f}  {name[:240]}")
    print(f"total per connection {sum(r[0] for r in rows):.1f} B in {sum(r[1] for r in rows):.2f} allocations")


main()
