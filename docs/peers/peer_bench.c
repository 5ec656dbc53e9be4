// The plaintext peers of issue 6 (Redis pub/sub, ngIRCd, mosquitto), measured with LanChat's workloads on the
// same machine: one thread on one core (run it under `taskset -c 1`), epoll, blocking writes and non-blocking
// reads, 256-byte messages. It only connects to 127.0.0.1. `docs/peers/run.sh` starts the servers and runs it.
//
//   gcc -O2 -o /tmp/peer_bench docs/peers/peer_bench.c
//   peer_bench redis|irc PORT fanout S M WINDOW        one sender, S receivers; deliveries/s = S*M/elapsed
//   peer_bench redis|irc PORT fanout-latency S RATE M  broadcasts at RATE/s; send-to-delivery percentiles
//   peer_bench redis|irc PORT direct P M WINDOW        P pairs, each client sends M to its partner
//   peer_bench redis|irc PORT direct-latency P RATE M  P pairs, RATE messages/s over all clients
//   peer_bench redis|irc|mqtt PORT idle N              N connected, registered idle clients; RSS per connection
// A server PID in PEER_PID adds the server's CPU use (and is required by idle); idle samples the server's memory
// PEER_SETTLE_S seconds (3 unless set) after the last client connected. Redis acknowledges a PUBLISH with
// the number of receivers; IRC has no reply to PRIVMSG, so the sender's window is closed by a PING every
// WINDOW/8 messages, answered by a PONG once the server has handled the messages before it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PAYLOAD = 256, CARRY = 4096, STALL_SECONDS = 20 };
enum Protocol { REDIS, IRC, MQTT };

typedef struct {
    int fd;
    int partner;        // direct: the index of the partner; fan-out: -1
    long long sent, acked, delivered;
    int carryLength;
    char carry[CARRY];
} Client;

static enum Protocol protocol;
static int port;
static Client *clients;
static int clientCount;
static long long *delays; // nanoseconds, latency workloads
static long long delayCount, delayCapacity;
static int deliveryLength; // a delivery's length in bytes, learned from the warm-up message

__attribute__((noreturn)) static void die(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "peer_bench: ");
    vfprintf(stderr, format, arguments);
    fprintf(stderr, "\n");
    va_end(arguments);
    exit(1);
}

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static double cpuSeconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/// The server's CPU seconds (user + system) from /proc/PID/stat, or -1 without PEER_PID.
static double serverCPUSeconds(void) {
    const char *pid = getenv("PEER_PID");
    if (!pid) return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file || !fgets(line, sizeof line, file)) die("cannot read %s", path);
    fclose(file);
    char *field = strrchr(line, ')') + 2; // after "pid (comm) "
    unsigned long long user = 0, system = 0;
    sscanf(field, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user, &system);
    return (double)(user + system) / sysconf(_SC_CLK_TCK);
}

static long long serverRSS(void) {
    const char *pid = getenv("PEER_PID");
    if (!pid) die("idle needs the server's PID in PEER_PID");
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *file = fopen(path, "r");
    if (!file) die("cannot read %s", path);
    long long kib = -1;
    while (fgets(line, sizeof line, file))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) break;
    fclose(file);
    return kib * 1024;
}

static int connectToServer(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void sendAll(int fd, const void *bytes, size_t count) {
    const char *next = bytes;
    while (count > 0) {
        ssize_t written = send(fd, next, count, MSG_NOSIGNAL);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) die("write: %s", strerror(errno));
        next += written;
        count -= (size_t)written;
    }
}

static void sendText(int fd, const char *format, ...) {
    char text[1024];
    va_list arguments;
    va_start(arguments, format);
    int count = vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    sendAll(fd, text, (size_t)count);
}

/// Reads more into the client's carry buffer, waiting up to STALL_SECONDS for it.
static void readMore(Client *client) {
    if (client->carryLength == CARRY) die("a reply longer than %d bytes", CARRY);
    struct pollfd poller = { .fd = client->fd, .events = POLLIN };
    if (poll(&poller, 1, STALL_SECONDS * 1000) != 1) die("the server sent nothing for %d s", STALL_SECONDS);
    ssize_t got = recv(client->fd, client->carry + client->carryLength, CARRY - client->carryLength, 0);
    if (got <= 0) die("the server closed a connection during setup");
    client->carryLength += (int)got;
}

/// Waits for a line containing `needle` during setup, dropping the lines before it; returns the line's length
/// (with its "\r\n") and leaves the line at the start of the carry buffer until `dropFront`.
static int awaitLine(Client *client, const char *needle) {
    for (;;) {
        char *end;
        while ((end = memchr(client->carry, '\n', client->carryLength))) {
            int length = (int)(end - client->carry) + 1;
            if ((protocol == IRC && memmem(client->carry, length, "ERROR", 5)) || (protocol == REDIS && client->carry[0] == '-'))
                die("the server refused: %.*s", length, client->carry);
            if (memmem(client->carry, length, needle, strlen(needle))) return length;
            memmove(client->carry, end + 1, client->carryLength - length);
            client->carryLength -= length;
        }
        readMore(client);
    }
}

static void dropFront(Client *client, int length) {
    memmove(client->carry, client->carry + length, client->carryLength - length);
    client->carryLength -= length;
}

/// Puts a 256-byte payload after `out`: a marker, the send time in hex (for latency), and filler (no spaces,
/// no line breaks). Returns the bytes written.
static int writePayload(char *out, char marker, long long sentAt) {
    int count = snprintf(out, PAYLOAD + 1, "~%c%016llx", marker, (unsigned long long)sentAt);
    memset(out + count, 'x', PAYLOAD - count);
    return PAYLOAD;
}

/// Writes into `name` the channel (Redis) or nick (IRC, MQTT client id) of client `index`, or the broadcast
/// channel for -1.
static const char *channelOf(int index, char *name) {
    if (index < 0) return strcpy(name, protocol == REDIS ? "ch" : "#c");
    snprintf(name, 16, protocol == REDIS ? "c%05d" : "n%05d", index);
    return name;
}

/// Encodes one message to `target` (an index, or -1 for the channel) into `out`; returns its length.
static int encodeMessage(char *out, int target, char marker, long long sentAt) {
    char name[16];
    channelOf(target, name);
    int count = protocol == REDIS ? sprintf(out, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(name), name, PAYLOAD)
                                  : sprintf(out, "PRIVMSG %s :", name);
    count += writePayload(out + count, marker, sentAt);
    memcpy(out + count, "\r\n", 2);
    return count + 2;
}

/// Drops what the server sent `client` during setup: an IRC server answers a PING after everything before it.
static void settle(Client *client) {
    if (protocol != IRC) return;
    sendText(client->fd, "PING :0\r\n");
    dropFront(client, awaitLine(client, " PONG "));
}

/// Connects client `index` and completes what makes it a registered user of the protocol.
static void connectClient(int index) {
    Client *client = &clients[index];
    client->fd = connectToServer();
    char name[16];
    channelOf(index, name);
    switch (protocol) {
    case REDIS:
        // RESP3, in which a subscribed connection may still publish: one connection per client, as in LanChat.
        sendText(client->fd, "HELLO 3\r\nPING\r\n");
        dropFront(client, awaitLine(client, "+PONG"));
        break;
    case IRC:
        sendText(client->fd, "NICK %s\r\nUSER u 0 * :peer bench\r\n", name);
        dropFront(client, awaitLine(client, " 001 "));
        settle(client);
        break;
    case MQTT: {
        // CONNECT: MQTT 3.1.1, clean session, keep-alive off, then the client id.
        unsigned char packet[64] = { 0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0 };
        int idLength = (int)strlen(name);
        packet[13] = (unsigned char)idLength;
        memcpy(packet + 14, name, idLength);
        packet[1] = (unsigned char)(12 + idLength);
        sendAll(client->fd, packet, 14 + idLength);
        while (client->carryLength < 4) readMore(client);
        if ((unsigned char)client->carry[0] != 0x20 || client->carry[3] != 0) die("mosquitto refused a connection");
        dropFront(client, 4);
        break;
    }
    }
}

/// Subscribes client `index` to `channel` (its own name in direct mode, the shared channel in fan-out).
static void subscribe(int index, int channel) {
    Client *client = &clients[index];
    char name[16];
    channelOf(channel, name);
    if (protocol == REDIS) {
        sendText(client->fd, "SUBSCRIBE %s\r\n", name);
        dropFront(client, awaitLine(client, ":1\r"));
    } else if (channel < 0) {
        sendText(client->fd, "JOIN %s\r\n", name);
        dropFront(client, awaitLine(client, " 366 ")); // end of the channel's member list
    }
}

/// The length of a Redis delivery on `channel` (">3", "$7", "message", "$N", the channel, "$256", the payload).
static int redisDeliveryLength(int channel) {
    char name[16], header[64];
    channelOf(channel, name);
    return snprintf(header, sizeof header, ">3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(name), name, PAYLOAD) + PAYLOAD + 2;
}

/// Sends one warm-up message from `from` to `to` (an index, or -1 for the channel), waits for the server's
/// answer, and settles the sender.
static void sendWarmUp(int from, int to) {
    char message[512];
    sendAll(clients[from].fd, message, encodeMessage(message, to, 'W', 0));
    if (protocol == REDIS) dropFront(&clients[from], awaitLine(&clients[from], ":"));
    settle(&clients[from]);
}

/// Waits until `receiver` got the warm-up message on `channel`, dropping all it was sent before (an IRC
/// channel's join notices); learns the length of a delivery.
static void receiveWarmUp(int receiver, int channel) {
    Client *client = &clients[receiver];
    int length = awaitLine(client, "~W");
    int learned = protocol == REDIS ? redisDeliveryLength(channel) : length;
    if (deliveryLength && deliveryLength != learned) die("deliveries of different lengths (%d and %d)", deliveryLength, learned);
    deliveryLength = learned;
    dropFront(client, length);
}

static void addDelay(long long sentAt) {
    if (delayCount == delayCapacity) {
        delayCapacity = delayCapacity ? 2 * delayCapacity : 1 << 16;
        delays = realloc(delays, delayCapacity * sizeof *delays);
    }
    delays[delayCount++] = now() - sentAt;
}

/// Reads what arrived for `client` and counts deliveries and acknowledgements (Redis ":N", IRC "PONG").
static void drain(Client *client, int measureLatency) {
    static char buffer[1 << 18];
    memcpy(buffer, client->carry, client->carryLength);
    ssize_t got = recv(client->fd, buffer + client->carryLength, sizeof buffer - client->carryLength, MSG_DONTWAIT);
    if (got == 0) die("the server closed a connection");
    if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die("read: %s", strerror(errno));
    }
    size_t length = client->carryLength + (size_t)got, at = 0;
    while (at < length) {
        const char *record = buffer + at;
        if (protocol == REDIS && record[0] == '>') { // a RESP3 push: a delivery
            if (length - at < (size_t)deliveryLength) break;
            client->delivered++;
            if (record[deliveryLength - 1] != '\n') die("a Redis delivery of an unexpected length");
            // The payload is "~T", then the send time in hex.
            if (measureLatency) addDelay((long long)strtoull(record + deliveryLength - 2 - PAYLOAD + 2, NULL, 16));
            at += deliveryLength;
            continue;
        }
        const char *end = memchr(record, '\n', length - at);
        if (!end) break;
        size_t lineLength = (size_t)(end - record) + 1;
        if (protocol == REDIS && record[0] == ':') {
            client->acked++;
        } else if (protocol == IRC && lineLength == (size_t)deliveryLength) {
            client->delivered++;
            if (measureLatency) {
                const char *marker = memmem(record, lineLength, "~T", 2);
                if (marker) addDelay((long long)strtoull(marker + 2, NULL, 16));
            }
        } else if (protocol == IRC && memmem(record, lineLength, " PONG ", 6)) {
            client->acked = atoll(memrchr(record, ':', lineLength) + 1);
        } else if (protocol == IRC && strncmp(record, "PING ", 5) == 0) {
            sendText(client->fd, "PONG %.*s", (int)(lineLength - 5), record + 5);
        } else {
            die("unexpected from the server: %.*s", (int)lineLength, record);
        }
        at += lineLength;
    }
    client->carryLength = (int)(length - at);
    if (client->carryLength > CARRY) die("a partial record of %d bytes", client->carryLength);
    memcpy(client->carry, buffer + at, client->carryLength);
}

/// Writes as many messages as `client`'s window allows, all in one write; over IRC with a PING every window/8
/// messages (and after the last), whose PONG acknowledges them.
static void sendWindow(Client *client, int target, long long messages, long long window) {
    static char batch[1 << 16];
    long long pingEvery = window / 8 > 0 ? window / 8 : 1;
    size_t used = 0;
    while (client->sent < messages && client->sent - client->acked < window && used + 1024 < sizeof batch) {
        used += encodeMessage(batch + used, target, 'T', 0);
        client->sent++;
        if (protocol == IRC && (client->sent % pingEvery == 0 || client->sent == messages))
            used += sprintf(batch + used, "PING :%lld\r\n", client->sent);
    }
    if (used) sendAll(client->fd, batch, used);
}

static int epollOf(void) {
    int poller = epoll_create1(0);
    for (int i = 0; i < clientCount; i++) {
        struct epoll_event event = { .events = EPOLLIN, .data.u32 = (unsigned)i };
        epoll_ctl(poller, EPOLL_CTL_ADD, clients[i].fd, &event);
    }
    return poller;
}

/// Waits for readable clients (up to `timeout` ns) and drains them; dies after STALL_SECONDS without progress.
static void pollOnce(int poller, long long timeout, int measureLatency, long long *lastProgress) {
    struct epoll_event events[512];
    struct timespec limit = { timeout / 1000000000LL, timeout % 1000000000LL };
    int ready = epoll_pwait2(poller, events, 512, &limit, NULL);
    for (int k = 0; k < ready; k++) drain(&clients[events[k].data.u32], measureLatency);
    if (ready > 0) *lastProgress = now();
    else if (now() - *lastProgress > STALL_SECONDS * 1000000000LL) die("no progress for %d s", STALL_SECONDS);
}

static long long totalDelivered(void) {
    long long total = 0;
    for (int i = 0; i < clientCount; i++) total += clients[i].delivered;
    return total;
}

static int ascending(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void printCPU(double elapsed, double toolStart, double serverStart, long long deliveries) {
    double server = serverCPUSeconds();
    printf(" bench_cpu_pct=%.1f", 100 * (cpuSeconds() - toolStart) / elapsed);
    if (server >= 0) printf(" server_cpu_pct=%.1f server_us_per_delivery=%.2f", 100 * (server - serverStart) / elapsed,
                            1e6 * (server - serverStart) / (double)deliveries);
    printf("\n");
}

static void printLatency(const char *workload, int count, long long deliveries, long long start, double toolStart, double serverStart) {
    if (delayCount == 0) die("no delays recorded");
    qsort(delays, delayCount, sizeof *delays, ascending);
    printf("%s clients=%d deliveries=%lld p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f", workload, count, deliveries,
           delays[delayCount / 2] / 1e6, delays[(long long)(delayCount * 0.99)] / 1e6, delays[(long long)(delayCount * 0.999)] / 1e6,
           delays[delayCount - 1] / 1e6);
    printCPU((now() - start) / 1e9, toolStart, serverStart, deliveries);
}

/// Sends `messages` at `rate` per second, each stamped with its send time: from client 0 to the channel
/// (`fanOut`), or from every client in turn to its partner; then reads until `expected` deliveries arrived,
/// recording each one's delay.
static void sendPaced(long long messages, double rate, int fanOut, int poller, long long expected) {
    long long interval = (long long)(1e9 / rate), next = now(), lastProgress = next;
    char message[512];
    for (long long sent = 0; sent < messages;) {
        long long wait = next - now();
        if (wait > 0) {
            pollOnce(poller, wait, 1, &lastProgress);
            continue;
        }
        Client *sender = fanOut ? &clients[0] : &clients[sent % clientCount];
        sendAll(sender->fd, message, encodeMessage(message, fanOut ? -1 : sender->partner, 'T', now()));
        sent++;
        next += interval;
    }
    while (totalDelivered() < expected) pollOnce(poller, 100000000, 1, &lastProgress);
}

/// Client 0 broadcasts to clients 1...S.
static void fanout(int receivers, long long messages, long long window, double rate) {
    clientCount = receivers + 1;
    clients = calloc(clientCount, sizeof *clients);
    for (int i = 0; i < clientCount; i++) {
        clients[i].partner = -1;
        connectClient(i);
        if (i > 0 || protocol == IRC) subscribe(i, -1);
    }
    sendWarmUp(0, -1);
    for (int i = 1; i <= receivers; i++) receiveWarmUp(i, -1);
    int poller = epollOf();
    long long expected = (long long)receivers * messages, start = now(), lastProgress = start;
    double toolStart = cpuSeconds(), serverStart = serverCPUSeconds();
    if (rate > 0) {
        sendPaced(messages, rate, 1, poller, expected);
        printLatency("fanout-latency", receivers, totalDelivered(), start, toolStart, serverStart);
        return;
    }
    while (totalDelivered() < expected || clients[0].acked < messages) {
        sendWindow(&clients[0], -1, messages, window);
        pollOnce(poller, 100000000, 0, &lastProgress);
    }
    double elapsed = (now() - start) / 1e9;
    printf("fanout receivers=%d messages=%lld deliveries=%lld elapsed_s=%.3f deliveries_per_s=%.0f", receivers, messages, expected,
           elapsed, expected / elapsed);
    printCPU(elapsed, toolStart, serverStart, expected);
}

/// Clients 2k and 2k+1 are partners.
static void direct(int pairs, long long messages, long long window, double rate) {
    clientCount = 2 * pairs;
    clients = calloc(clientCount, sizeof *clients);
    for (int i = 0; i < clientCount; i++) {
        clients[i].partner = i ^ 1;
        connectClient(i);
        subscribe(i, i);
    }
    for (int i = 0; i < clientCount; i++) {
        sendWarmUp(i, i ^ 1);
        receiveWarmUp(i ^ 1, i ^ 1);
    }
    int poller = epollOf();
    long long start = now(), lastProgress = start;
    double toolStart = cpuSeconds(), serverStart = serverCPUSeconds();
    if (rate > 0) {
        sendPaced(messages, rate, 0, poller, messages);
        printLatency("direct-latency", clientCount, totalDelivered(), start, toolStart, serverStart);
        return;
    }
    long long expected = (long long)clientCount * messages;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < clientCount; i++) {
            sendWindow(&clients[i], clients[i].partner, messages, window);
            pending |= clients[i].acked < messages;
        }
        if (!pending && totalDelivered() >= expected) break;
        pollOnce(poller, 100000000, 0, &lastProgress);
    }
    double elapsed = (now() - start) / 1e9;
    printf("direct pairs=%d messages=%lld deliveries=%lld elapsed_s=%.3f deliveries_per_s=%.0f", pairs, messages, expected, elapsed,
           expected / elapsed);
    printCPU(elapsed, toolStart, serverStart, expected);
}

static void idle(int count) {
    struct rlimit limit = { count + 64, count + 64 };
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) die("cannot raise the descriptor limit to %d", count + 64);
    clientCount = count + 1;
    clients = calloc(clientCount, sizeof *clients);
    connectClient(count); // warm-up, as lanchat-bench idle does
    usleep(500000);
    long long before = serverRSS(), start = now();
    for (int i = 0; i < count; i++) connectClient(i);
    double connectSeconds = (now() - start) / 1e9;
    const char *settle = getenv("PEER_SETTLE_S"); // how long to let the server settle, 3 s as in lanchat-bench
    sleep(settle ? (unsigned)atoi(settle) : 3);
    long long after = serverRSS();
    printf("idle clients=%d connect_s=%.2f server_rss_before_mib=%.1f server_rss_after_mib=%.1f bytes_per_connection=%lld\n", count,
           connectSeconds, before / 1048576.0, after / 1048576.0, (after - before) / count);
}

static enum Protocol protocolNamed(const char *name) {
    if (!strcmp(name, "redis")) return REDIS;
    if (!strcmp(name, "irc")) return IRC;
    if (!strcmp(name, "mqtt")) return MQTT;
    die("unknown protocol %s (redis, irc or mqtt)", name);
}

int main(int argc, char **argv) {
    if (argc < 5) die("usage: peer_bench redis|irc|mqtt PORT WORKLOAD ARGUMENTS... (see the header of peer_bench.c)");
    protocol = protocolNamed(argv[1]);
    port = atoi(argv[2]);
    const char *workload = argv[3];
    if (port <= 0 || port > 65535) die("bad port %s", argv[2]);
    if (!strcmp(workload, "idle")) {
        idle(atoi(argv[4]));
        return 0;
    }
    if (protocol == MQTT) die("mqtt is measured for idle only");
    if (argc < 7) die("%s needs three numbers", workload);
    int count = atoi(argv[4]);
    long long second = atoll(argv[5]), third = atoll(argv[6]);
    if (count <= 0 || second <= 0 || third <= 0) die("the numbers must be positive");
    if (!strcmp(workload, "fanout")) fanout(count, second, third, 0);
    else if (!strcmp(workload, "fanout-latency")) fanout(count, third, 1, (double)second);
    else if (!strcmp(workload, "direct")) direct(count, second, third, 0);
    else if (!strcmp(workload, "direct-latency")) direct(count, third, 1, (double)second);
    else die("unknown workload %s", workload);
    return 0;
}
