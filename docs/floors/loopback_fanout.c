// The kernel's floor for fan-out latency on this machine: one thread (core 0) writes one 450-byte message to
// each of N loopback TCP sockets, 100 times 50 ms apart (20 bursts per second, as in `fanout-latency`); a
// second thread (core 1) reads them with epoll and records each message's delay from the start of its burst.
// No encryption, no framing, no event-loop library: what any relay pays for N write(2) calls.
//
//   gcc -O2 -pthread -o loopback_fanout loopback_fanout.c && ./loopback_fanout 1000
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

enum { BURSTS = 100, SIZE = 450 };
static int count = 1000;
static int *writers, *readers;
static double *delays;
static int delayCount;

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *readAll(void *unused) {
    (void)unused;
    pin(1);
    int poller = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        struct epoll_event event = { .events = EPOLLIN, .data.u32 = i };
        epoll_ctl(poller, EPOLL_CTL_ADD, readers[i], &event);
    }
    static char buffer[65536];
    struct epoll_event events[256];
    long long received = 0, expected = (long long)count * BURSTS * SIZE;
    while (received < expected) {
        int ready = epoll_wait(poller, events, 256, -1);
        for (int k = 0; k < ready; k++) {
            ssize_t got = read(readers[events[k].data.u32], buffer, sizeof buffer);
            if (got <= 0) continue;
            for (ssize_t m = 0; m < got / SIZE; m++) {
                long long sent;
                memcpy(&sent, buffer + m * SIZE, sizeof sent);
                delays[delayCount++] = (now() - sent) / 1e6;
            }
            received += got;
        }
    }
    return NULL;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc > 1) count = atoi(argv[1]);
    writers = calloc(count, sizeof(int));
    readers = calloc(count, sizeof(int));
    delays = calloc((size_t)count * BURSTS, sizeof(double));
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    bind(listener, (struct sockaddr *)&address, sizeof address);
    listen(listener, 4096);
    getsockname(listener, (struct sockaddr *)&address, &length);
    int one = 1;
    for (int i = 0; i < count; i++) {
        readers[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(readers[i], (struct sockaddr *)&address, sizeof address) != 0) { perror("connect"); return 1; }
        writers[i] = accept(listener, NULL, NULL);
        setsockopt(writers[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(readers[i], F_SETFL, O_NONBLOCK);
    }
    pthread_t reader;
    pthread_create(&reader, NULL, readAll, NULL);
    pin(0);
    char message[SIZE];
    memset(message, 'x', sizeof message);
    double writing = 0;
    for (int burst = 0; burst < BURSTS; burst++) {
        long long start = now();
        memcpy(message, &start, sizeof start);
        for (int i = 0; i < count; i++) {
            if (write(writers[i], message, SIZE) != SIZE) { perror("write"); return 1; }
        }
        writing += (now() - start) / 1e3;
        usleep(50000);
    }
    pthread_join(reader, NULL);
    qsort(delays, delayCount, sizeof(double), ascending);
    printf("receivers=%d write_us=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f samples=%d\n", count, writing / BURSTS / count,
           delays[delayCount / 2], delays[(int)(delayCount * 0.99)], delays[delayCount - 1], delayCount);
    return 0;
}
