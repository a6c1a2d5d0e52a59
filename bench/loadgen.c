// loadgen.c - single-threaded epoll WebSocket load generator for the Printerlynx relay benchmark.
//
// Speaks the Printerlynx protocol (spec/websockets-protocol.md): agents connect to /api/v1/ws/agent,
// dashboard sessions to /api/v1/ws, both authenticate with the tokens listed in a token file:
//
//   U <account_index> <user JWT>
//   A <account_index> <agent_uuid> <agent token>
//
// Agent line j reports a printer whose uuid ends in j (12 hex digits), so a session can check that each
// status it receives belongs to its own account and carries the agent_uuid the server stamped.
// The send time travels in a temperature, `state.temperature.tool3` = (CLOCK_REALTIME in us modulo 1,000 s)
// / 1e6, e.g. 812.345678: our PrinterStatus model drops unknown keys, temperatures are relayed untouched
// (within the model's -300..2000 range), and unlike `printer_identifier` a changing temperature does not
// make the backend persist the printer on every message.
//
// Modes (one JSON object on stdout at the end; everything bounded by time):
//   sat   closed loop: keep `window` statuses in flight; each receipt triggers the next send (round
//         robin over agents). Maximum relay throughput.
//   rate  open loop: `rate` statuses/s, evenly spaced; the timestamp is the scheduled time, so a stall
//         is counted against the server (no coordinated omission).
//   cmd   every agent reports one status, then sessions send `rate` printer_command/s (open loop) to their
//         own agents; agents acknowledge with OK; latency = command sent -> OK back at the session.
//   idle  connect and authenticate everything, print "READY <n> <setup_s>", hold `hold` seconds.
//
// Build: gcc -O2 -o loadgen loadgen.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { S_CONNECTING, S_UPGRADING, S_AUTHENTICATING, S_READY, S_CLOSED };
enum { AGENT, USER };

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

typedef struct {
    int fd, role, state, line, want_out;
    buf_t in, out;
} conn_t;

typedef struct {
    int account;
    char uuid[40];
    char printer[40];
    char *token;
} agent_line_t;

typedef struct {
    int account;
    char *token;
} user_line_t;

// ---- options ----
static const char *host = "127.0.0.1", *mode = "sat", *tokens_path = NULL;
static const char *agent_path = "/api/v1/ws/agent", *user_path = "/api/v1/ws";
static int port = 8000, n_agents = 0, n_users = 0, agent_off = 0, user_off = 0, window = 1000, conc = 64;
static int spid = 0;
static double rate = 2000, warmup = 2, duration = 8, hold = 30, setup_timeout = 120;

// ---- token file ----
static agent_line_t *agent_lines;
static user_line_t *user_lines;
static int n_agent_lines, n_user_lines;

// ---- connections ----
static conn_t *conns;  // agents [0, n_agents), sessions [n_agents, n_agents + n_users)
static int n_conns, epfd, n_ready, n_pending, next_connect;
static int *agents_of_account_start, *agents_of_account_count, *agents_by_account;  // cmd mode
static int *session_next_agent;

// ---- counters ----
static uint64_t closed, auth_failed, misrouted, foreign, other_frames, error_replies, pings;
static uint64_t sent_total, recv_total, sent_meas, recv_meas, inflight, cmd_ok, cmd_error, acks_sent;
static int close_codes[8][2];  // (code, count) of the first distinct close codes seen
static int measuring, rr_agent;

// ---- latency histogram: 1 us resolution below 1024 us, then 128 sub-buckets per power of two ----
#define HBUCKETS (1024 + 54 * 128)
static uint64_t hist[HBUCKETS], lag_hist[HBUCKETS], h_count, lag_count, h_max;
static double h_sum, max_lag;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int64_t wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}
static int bucket(uint64_t us) {
    if (us < 1024) return (int)us;
    int msb = 63 - __builtin_clzll(us);
    int idx = 1024 + (msb - 10) * 128 + (int)((us >> (msb - 7)) & 127);
    return idx < HBUCKETS ? idx : HBUCKETS - 1;
}
static uint64_t bucket_value(int idx) {
    if (idx < 1024) return (uint64_t)idx;
    int msb = (idx - 1024) / 128 + 10;
    return ((uint64_t)(128 + (idx - 1024) % 128)) << (msb - 7);
}
static double percentile(const uint64_t *h, uint64_t count, double p) {
    if (!count) return -1;
    uint64_t target = (uint64_t)(p / 100.0 * (double)count), seen = 0;
    if (target >= count) target = count - 1;
    for (int i = 0; i < HBUCKETS; i++) {
        seen += h[i];
        if (seen > target) return (double)bucket_value(i);
    }
    return -1;
}
static void record_latency(int64_t sent_ns) {
    int64_t ns = wall_ns() - sent_ns;
    uint64_t us = ns > 0 ? (uint64_t)(ns / 1000) : 0;
    hist[bucket(us)]++;
    h_count++;
    h_sum += (double)us;
    if (us > h_max) h_max = us;
}
static void fail(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

// ---- buffers and sockets ----
static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) fail("realloc");
    b->cap = cap;
}
static void watch(conn_t *c, int op) {
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) fail("epoll_ctl");
}
static void conn_close(conn_t *c) {
    if (c->state == S_CLOSED) return;
    if (c->state == S_READY) n_ready--;
    else n_pending--;
    c->state = S_CLOSED;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    closed++;
}
static void conn_write(conn_t *c, const char *data, size_t len) {
    if (c->state == S_CLOSED) return;
    if (c->out.len == 0) {
        ssize_t w = write(c->fd, data, len);
        if (w == (ssize_t)len) return;
        if (w < 0) {
            if (errno != EAGAIN) {
                conn_close(c);
                return;
            }
            w = 0;
        }
        data += w;
        len -= (size_t)w;
    }
    buf_reserve(&c->out, len);
    memcpy(c->out.data + c->out.len, data, len);
    c->out.len += len;
    if (!c->want_out) {
        c->want_out = 1;
        watch(c, EPOLL_CTL_MOD);
    }
}
static void conn_flush(conn_t *c) {
    size_t done = 0;
    while (done < c->out.len) {
        ssize_t w = write(c->fd, c->out.data + done, c->out.len - done);
        if (w < 0) {
            if (errno == EAGAIN) break;
            conn_close(c);
            return;
        }
        done += (size_t)w;
    }
    memmove(c->out.data, c->out.data + done, c->out.len - done);
    c->out.len -= done;
    if (c->out.len == 0 && c->want_out) {
        c->want_out = 0;
        watch(c, EPOLL_CTL_MOD);
    }
}

// One masked client frame (RFC 6455 5.3: clients mask every frame).
static void send_frame(conn_t *c, int opcode, const char *payload, size_t len) {
    char stack[1024];
    char *f = len + 14 <= sizeof stack ? stack : malloc(len + 14);
    size_t h = 0;
    f[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        f[h++] = (char)(0x80 | len);
    } else if (len < 65536) {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(len >> 8);
        f[h++] = (char)len;
    } else {
        f[h++] = (char)(0x80 | 127);
        for (int i = 7; i >= 0; i--) f[h++] = (char)(len >> (8 * i));
    }
    uint32_t key = (uint32_t)rng() | 1u;
    unsigned char mask[4];
    memcpy(mask, &key, 4);
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) f[h + i] = (char)(payload[i] ^ mask[i & 3]);
    conn_write(c, f, h + len);
    if (f != stack) free(f);
}
static void send_text(conn_t *c, const char *text, size_t len) { send_frame(c, 1, text, len); }

// ---- messages ----
#define STAMP_WRAP_US 1000000000ll  // the timestamp wraps every 1,000 s
static double stamp(int64_t ts_ns) { return (double)((ts_ns / 1000) % STAMP_WRAP_US) / 1e6; }
static void record_stamp_latency(double sent_stamp) {
    int64_t sent_us = (int64_t)(sent_stamp * 1e6 + 0.5);
    int64_t now_us = (wall_ns() / 1000) % STAMP_WRAP_US;
    int64_t us = ((now_us - sent_us) % STAMP_WRAP_US + STAMP_WRAP_US) % STAMP_WRAP_US;
    record_latency(wall_ns() - us * 1000);
}
static void send_status(int agent, int64_t ts, const char *status) {
    agent_line_t *a = &agent_lines[conns[agent].line];
    char m[700];
    int n;
    if (strcmp(status, "busy") == 0)
        n = snprintf(m, sizeof m,
                     "{\"type\":\"printer_status\",\"data\":{\"agent_uuid\":\"%s\",\"printer_uuid\":\"%s\","
                     "\"printer_identifier\":\"Demo\",\"printer_adapter_identifier\":\"SERIAL\","
                     "\"printer_adapter_interface\":\"/dev/ttyUSB0\",\"status\":\"busy\",\"job\":{"
                     "\"print_file_uuid\":\"%.24s%012x\",\"name\":\"File.gcode\",\"size\":4106612,"
                     "\"progress\":0.5},\"state\":{\"temperature\":{\"bed\":60.0,\"tool0\":210.0,\"tool1\":0.0,"
                     "\"tool2\":0.0,\"tool3\":%.6f}}}}",
                     a->uuid, a->printer, "c0000000-3333-4000-8000-", conns[agent].line, stamp(ts));
    else
        n = snprintf(m, sizeof m,
                     "{\"type\":\"printer_status\",\"data\":{\"agent_uuid\":\"%s\",\"printer_uuid\":\"%s\","
                     "\"printer_identifier\":\"Demo\",\"printer_adapter_identifier\":\"SERIAL\","
                     "\"printer_adapter_interface\":\"/dev/ttyUSB0\",\"status\":\"%s\",\"job\":null,"
                     "\"state\":{\"temperature\":{\"bed\":21.0,\"tool0\":22.0,\"tool1\":0.0,\"tool2\":0.0,"
                     "\"tool3\":%.6f}}}}",
                     a->uuid, a->printer, status, stamp(ts));
    send_text(&conns[agent], m, (size_t)n);
    sent_total++;
    if (measuring) sent_meas++;
}
static int next_agent(void) {
    for (int k = 0; k < n_agents; k++) {
        int a = rr_agent;
        rr_agent = (rr_agent + 1) % n_agents;
        if (conns[a].state == S_READY) return a;
    }
    return -1;
}
static const char *find(const char *p, size_t len, const char *needle) {
    const char *r = memmem(p, len, needle, strlen(needle));
    return r ? r + strlen(needle) : NULL;
}
static int64_t parse_digits(const char *t, const char *end) {
    int64_t v = 0;
    while (t < end && *t >= '0' && *t <= '9') v = v * 10 + (*t++ - '0');
    return v;
}
static int starts(const char *p, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

static void session_got_status(conn_t *s, const char *p, size_t len) {
    const char *end = p + len;
    const char *t = find(p, len, "\"tool3\":");
    const char *pu = find(p, len, "\"printer_uuid\":\"");
    if (!t || !pu || pu + 36 > end) {
        other_frames++;  // e.g. the snapshot's or a disconnect's status without a timestamp
        return;
    }
    long line = strtol(pu + 24, NULL, 16);
    const char *au = find(p, len, "\"agent_uuid\":\"");
    if (line < 0 || line >= n_agent_lines) {
        foreign++;
        return;
    }
    if (agent_lines[line].account != user_lines[s->line].account || !au || au + 36 > end ||
        memcmp(au, agent_lines[line].uuid, 36) != 0)
        misrouted++;
    recv_total++;
    if (inflight) inflight--;
    if (measuring) {
        recv_meas++;
        if (strcmp(mode, "cmd") != 0) record_stamp_latency(strtod(t, NULL));
    }
    if (strcmp(mode, "sat") == 0) {
        int a = next_agent();
        if (a >= 0) {
            send_status(a, wall_ns(), "busy");
            inflight++;
        }
    }
}
static void session_got_command_reply(const char *p, size_t len) {
    const char *id = find(p, len, "\"id\":\"c");
    if (!id) {
        other_frames++;
        return;
    }
    if (find(p, len, "\"status\":\"OK\"")) {
        cmd_ok++;
        if (measuring) {
            recv_meas++;
            record_latency(parse_digits(id, p + len));
        }
    } else {
        cmd_error++;
        if (cmd_error <= 3) fprintf(stderr, "loadgen: command refused: %.*s\n", (int)(len < 300 ? len : 300), p);
    }
}
static void agent_got_command(conn_t *a, const char *p, size_t len) {
    const char *id = find(p, len, "\"id\":\"");
    if (!id) {
        other_frames++;
        return;
    }
    const char *q = memchr(id, '"', (size_t)(p + len - id));
    if (!q || q - id > 64) {
        other_frames++;
        return;
    }
    char m[200];
    int n = snprintf(m, sizeof m, "{\"type\":\"printer_command\",\"id\":\"%.*s\",\"data\":{\"status\":\"OK\"}}",
                     (int)(q - id), id);
    send_text(a, m, (size_t)n);
    acks_sent++;
}

static void on_text(conn_t *c, const char *p, size_t len) {
    if (c->state == S_AUTHENTICATING) {
        int ok = starts(p, len, "{\"type\":\"authentication\"") &&
                 find(p, len, c->role == AGENT ? "\"status\":\"success\"" : "\"status\":\"OK\"");
        if (!ok) {
            if (++auth_failed <= 3) fprintf(stderr, "loadgen: authentication refused: %.*s\n", (int)(len < 200 ? len : 200), p);
            conn_close(c);
            return;
        }
        c->state = S_READY;
        n_pending--;
        n_ready++;
        return;
    }
    if (find(p, len, "\"status\":\"ERROR\"") && !starts(p, len, "{\"type\":\"printer_command\"")) {
        if (++error_replies <= 3) fprintf(stderr, "loadgen: error reply: %.*s\n", (int)(len < 300 ? len : 300), p);
        return;
    }
    if (c->role == USER) {
        if (starts(p, len, "{\"type\":\"printer_status\"")) session_got_status(c, p, len);
        else if (starts(p, len, "{\"type\":\"printer_command\"")) session_got_command_reply(p, len);
        else other_frames++;  // agent_status and the snapshot
    } else if (starts(p, len, "{\"type\":\"printer_command\"")) {
        agent_got_command(c, p, len);
    } else {
        other_frames++;
    }
}
static void note_close_code(int code) {
    for (int i = 0; i < 8; i++) {
        if (close_codes[i][0] == code || close_codes[i][1] == 0) {
            close_codes[i][0] = code;
            close_codes[i][1]++;
            return;
        }
    }
}
static void on_frame(conn_t *c, int opcode, const char *p, size_t len) {
    if (opcode == 1 || opcode == 2) {
        on_text(c, p, len);
    } else if (opcode == 9) {
        send_frame(c, 10, p, len < 125 ? len : 125);
        pings++;
    } else if (opcode == 8) {
        note_close_code(len >= 2 ? ((unsigned char)p[0] << 8) | (unsigned char)p[1] : 1005);
        conn_close(c);
    }
}
static void parse_frames(conn_t *c) {
    size_t off = 0;
    while (c->state != S_CLOSED) {
        size_t avail = c->in.len - off;
        const unsigned char *b = (const unsigned char *)c->in.data + off;
        if (avail < 2) break;
        uint64_t len = b[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)b[2] << 8) | b[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
            h = 10;
        }
        if (avail < h + len) break;  // servers do not mask; fragments are not used by these servers
        on_frame(c, b[0] & 0x0f, (const char *)b + h, (size_t)len);
        off += h + len;
    }
    if (c->state == S_CLOSED) return;
    memmove(c->in.data, c->in.data + off, c->in.len - off);
    c->in.len -= off;
}
static void send_authentication(conn_t *c) {
    const char *token = c->role == AGENT ? agent_lines[c->line].token : user_lines[c->line].token;
    char m[4500];
    int n = snprintf(m, sizeof m, "{\"type\":\"authentication\",\"data\":{\"token\":\"%s\"}}", token);
    send_text(c, m, (size_t)n);
}
static void on_readable(conn_t *c) {
    for (;;) {
        buf_reserve(&c->in, 32768);
        size_t space = c->in.cap - c->in.len;
        ssize_t r = read(c->fd, c->in.data + c->in.len, space);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            conn_close(c);
            return;
        }
        if (r < 0) return;
        c->in.len += (size_t)r;
        if (c->state == S_UPGRADING) {
            char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
            if (!end) continue;
            if (c->in.len < 12 || memcmp(c->in.data + 9, "101", 3) != 0) {
                if (closed < 3) fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(c->in.len < 200 ? c->in.len : 200), c->in.data);
                conn_close(c);
                return;
            }
            size_t hl = (size_t)(end - c->in.data) + 4;
            memmove(c->in.data, c->in.data + hl, c->in.len - hl);
            c->in.len -= hl;
            c->state = S_AUTHENTICATING;
            send_authentication(c);
        }
        parse_frames(c);
        if (c->state == S_CLOSED || (size_t)r < space) return;  // drained the socket
    }
}
static void on_writable(conn_t *c) {
    if (c->state != S_CONNECTING) {
        conn_flush(c);
        return;
    }
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        if (closed < 3) fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
        conn_close(c);
        return;
    }
    c->state = S_UPGRADING;
    c->want_out = 0;
    watch(c, EPOLL_CTL_MOD);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     c->role == AGENT ? agent_path : user_path, host, port);
    conn_write(c, req, (size_t)n);
}
static void start_connect(conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    c->fd = fd;
    c->state = S_CONNECTING;
    c->want_out = 1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) fail("connect");
    watch(c, EPOLL_CTL_ADD);
    n_pending++;
}
static void pump_connects(void) {
    // Sessions first, so they are subscribed before any status flows.
    while (next_connect < n_conns && n_pending < conc) {
        int i = next_connect < n_users ? n_agents + next_connect : next_connect - n_users;
        next_connect++;
        start_connect(&conns[i]);
    }
}
static void poll_once(double timeout_s) {
    struct epoll_event evs[512];
    if (timeout_s < 0) timeout_s = 0;
    // epoll_pwait2: nanosecond timeouts, so open-loop sends are not up to a millisecond late.
    struct timespec to = {.tv_sec = (time_t)timeout_s, .tv_nsec = (long)((timeout_s - (double)(time_t)timeout_s) * 1e9)};
    int n = epoll_pwait2(epfd, evs, 512, &to, NULL);
    if (n < 0 && errno != EINTR) fail("epoll_wait");
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->state != S_CLOSED && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) on_writable(c);
        if (c->state != S_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c);
    }
}

// ---- CPU accounting ----
static double process_cpu(int pid) {  // all threads, from schedstat (ns of run time)
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    unsigned long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char q[300];
        snprintf(q, sizeof q, "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(q, "r");
        unsigned long long run = 0;
        if (f && fscanf(f, "%llu", &run) == 1) total += run;
        if (f) fclose(f);
    }
    closedir(d);
    return (double)total * 1e-9;
}
static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

// Busy and stolen fractions of cores 0 and 1 from /proc/stat: other work on the server's core shows here.
typedef struct {
    unsigned long long busy[2], steal[2], total[2];
} cpustat_t;
static cpustat_t read_cpustat(void) {
    cpustat_t st = {0};
    FILE *f = fopen("/proc/stat", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        int cpu;
        unsigned long long v[8] = {0};
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) == 9 && cpu >= 0 && cpu < 2) {
            for (int i = 0; i < 8; i++) st.total[cpu] += v[i];
            st.busy[cpu] = st.total[cpu] - v[3] - v[4];  // minus idle and iowait
            st.steal[cpu] = v[7];
        }
    }
    if (f) fclose(f);
    return st;
}
static double cpustat_frac(unsigned long long a1, unsigned long long a0, unsigned long long t1, unsigned long long t0) {
    return t1 > t0 ? (double)(a1 - a0) / (double)(t1 - t0) : -1;
}
static cpustat_t cpu_at_start;

// ---- setup ----
static void load_tokens(void) {
    FILE *f = fopen(tokens_path, "r");
    if (!f) fail(tokens_path);
    char *line = NULL;
    size_t cap = 0;
    int agent_cap = 1024, user_cap = 1024;
    agent_lines = malloc(sizeof(agent_line_t) * (size_t)agent_cap);
    user_lines = malloc(sizeof(user_line_t) * (size_t)user_cap);
    while (getline(&line, &cap, f) > 0) {
        char kind, a[64], b[4200], c2[4200];
        int account;
        if (sscanf(line, "%c %d %4199s %4199s", &kind, &account, b, c2) < 3) continue;
        if (kind == 'U') {
            if (n_user_lines == user_cap) user_lines = realloc(user_lines, sizeof(user_line_t) * (size_t)(user_cap *= 2));
            user_lines[n_user_lines++] = (user_line_t){account, strdup(b)};
        } else if (kind == 'A') {
            if (n_agent_lines == agent_cap)
                agent_lines = realloc(agent_lines, sizeof(agent_line_t) * (size_t)(agent_cap *= 2));
            agent_line_t *al = &agent_lines[n_agent_lines];
            al->account = account;
            snprintf(a, sizeof a, "%.36s", b);
            memcpy(al->uuid, a, 37);
            snprintf(al->printer, sizeof al->printer, "b0000000-2222-4000-8000-%012x", n_agent_lines);
            al->token = strdup(c2);
            n_agent_lines++;
        }
    }
    free(line);
    fclose(f);
}
static void set_option(const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq) {
        fprintf(stderr, "loadgen: expected key=value, got %s\n", kv);
        exit(2);
    }
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
#define IS(name) (kl == strlen(name) && strncmp(kv, name, kl) == 0)
    if (IS("host")) host = v;
    else if (IS("port")) port = atoi(v);
    else if (IS("tokens")) tokens_path = v;
    else if (IS("mode")) mode = v;
    else if (IS("agents")) n_agents = atoi(v);
    else if (IS("users")) n_users = atoi(v);
    else if (IS("agent_off")) agent_off = atoi(v);
    else if (IS("user_off")) user_off = atoi(v);
    else if (IS("rate")) rate = atof(v);
    else if (IS("window")) window = atoi(v);
    else if (IS("warmup")) warmup = atof(v);
    else if (IS("duration")) duration = atof(v);
    else if (IS("hold")) hold = atof(v);
    else if (IS("setup_timeout")) setup_timeout = atof(v);
    else if (IS("conc")) conc = atoi(v);
    else if (IS("spid")) spid = atoi(v);
    else if (IS("agent_path")) agent_path = v;
    else if (IS("user_path")) user_path = v;
    else {
        fprintf(stderr, "loadgen: unknown option %s\n", kv);
        exit(2);
    }
}
static void build_connections(void) {
    if (agent_off + n_agents > n_agent_lines) {
        fprintf(stderr, "loadgen: %d agents from line %d, but the token file has %d\n", n_agents, agent_off, n_agent_lines);
        exit(2);
    }
    if (n_users > 0 && n_user_lines == 0) {
        fprintf(stderr, "loadgen: no user lines in the token file\n");
        exit(2);
    }
    n_conns = n_agents + n_users;
    conns = calloc((size_t)n_conns + 1, sizeof(conn_t));
    for (int a = 0; a < n_agents; a++) conns[a] = (conn_t){.role = AGENT, .line = agent_off + a, .state = S_CLOSED};
    // Sessions beyond the user lines reuse them: several sessions of one account (idle mode only).
    for (int u = 0; u < n_users; u++)
        conns[n_agents + u] = (conn_t){.role = USER, .line = (user_off + u) % n_user_lines, .state = S_CLOSED};
    // cmd mode: each session commands the agents of its own account in turn.
    int n_accounts = 0;
    for (int i = 0; i < n_agent_lines; i++) if (agent_lines[i].account >= n_accounts) n_accounts = agent_lines[i].account + 1;
    for (int i = 0; i < n_user_lines; i++) if (user_lines[i].account >= n_accounts) n_accounts = user_lines[i].account + 1;
    agents_of_account_start = calloc((size_t)n_accounts + 1, sizeof(int));
    agents_of_account_count = calloc((size_t)n_accounts + 1, sizeof(int));
    agents_by_account = calloc((size_t)n_agents + 1, sizeof(int));
    session_next_agent = calloc((size_t)n_users + 1, sizeof(int));
    for (int a = 0; a < n_agents; a++) agents_of_account_count[agent_lines[conns[a].line].account]++;
    for (int i = 1; i < n_accounts; i++) agents_of_account_start[i] = agents_of_account_start[i - 1] + agents_of_account_count[i - 1];
    int *fill = calloc((size_t)n_accounts + 1, sizeof(int));
    for (int a = 0; a < n_agents; a++) {
        int acc = agent_lines[conns[a].line].account;
        agents_by_account[agents_of_account_start[acc] + fill[acc]++] = a;
    }
    free(fill);
}
// cmd mode: session `session` sends one printer_command (id "c<scheduled ns>") to its account's next agent.
static void send_command(int session, int64_t ts) {
    conn_t *s = &conns[n_agents + session];
    int acc = user_lines[s->line].account;
    int count = agents_of_account_count[acc];
    if (s->state != S_READY || count == 0) return;
    int a = agents_by_account[agents_of_account_start[acc] + session_next_agent[session]++ % count];
    agent_line_t *al = &agent_lines[conns[a].line];
    char m[400];
    int n = snprintf(m, sizeof m,
                     "{\"type\":\"printer_command\",\"id\":\"c%lld\",\"data\":{\"agent_uuid\":\"%s\","
                     "\"printer_uuid\":\"%s\",\"command\":\"M105\"}}",
                     (long long)ts, al->uuid, al->printer);
    send_text(s, m, (size_t)n);
    sent_total++;
    if (measuring) sent_meas++;
}

static void print_result(double meas_s, double srv_cpu, double own_cpu, double setup_s) {
    cpustat_t c1 = read_cpustat(), c0 = cpu_at_start;
    printf("{\"core0_busy\":%.3f,\"core1_busy\":%.3f,\"core0_steal\":%.3f,\"core1_steal\":%.3f,",
           cpustat_frac(c1.busy[0], c0.busy[0], c1.total[0], c0.total[0]),
           cpustat_frac(c1.busy[1], c0.busy[1], c1.total[1], c0.total[1]),
           cpustat_frac(c1.steal[0], c0.steal[0], c1.total[0], c0.total[0]),
           cpustat_frac(c1.steal[1], c0.steal[1], c1.total[1], c0.total[1]));
    printf("\"mode\":\"%s\",\"agents\":%d,\"users\":%d,\"window\":%d,\"rate\":%.1f,\"setup_s\":%.3f,"
           "\"meas_s\":%.3f,\"sent\":%llu,\"recv\":%llu,\"recv_rate\":%.1f,\"sent_rate\":%.1f,"
           "\"lat_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%llu,\"mean\":%.1f,\"n\":%llu},"
           "\"sched_lag_p99_us\":%.0f,\"max_sched_lag_ms\":%.3f,\"server_cpu\":%.3f,\"loadgen_cpu\":%.3f,"
           "\"ready\":%d,\"closed\":%llu,\"auth_failed\":%llu,\"misrouted\":%llu,\"foreign\":%llu,"
           "\"error_replies\":%llu,\"other_frames\":%llu,\"cmd_ok\":%llu,\"cmd_error\":%llu,\"acks_sent\":%llu,"
           "\"pings\":%llu,\"sent_total\":%llu,\"recv_total\":%llu,\"close_codes\":{",
           mode, n_agents, n_users, window, rate, setup_s, meas_s, (unsigned long long)sent_meas,
           (unsigned long long)recv_meas, meas_s > 0 ? recv_meas / meas_s : 0, meas_s > 0 ? sent_meas / meas_s : 0,
           percentile(hist, h_count, 50), percentile(hist, h_count, 90), percentile(hist, h_count, 99),
           percentile(hist, h_count, 99.9), (unsigned long long)h_max, h_count ? h_sum / (double)h_count : -1.0,
           (unsigned long long)h_count, percentile(lag_hist, lag_count, 99), max_lag * 1e3, srv_cpu, own_cpu,
           n_ready, (unsigned long long)closed, (unsigned long long)auth_failed, (unsigned long long)misrouted,
           (unsigned long long)foreign, (unsigned long long)error_replies, (unsigned long long)other_frames,
           (unsigned long long)cmd_ok, (unsigned long long)cmd_error, (unsigned long long)acks_sent,
           (unsigned long long)pings, (unsigned long long)sent_total, (unsigned long long)recv_total);
    for (int i = 0, first = 1; i < 8 && close_codes[i][1]; i++, first = 0)
        printf("%s\"%d\":%d", first ? "" : ",", close_codes[i][0], close_codes[i][1]);
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) set_option(argv[i]);
    if (!tokens_path) {
        fprintf(stderr, "loadgen: tokens=<file> is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rng_state ^= (uint64_t)wall_ns();
    int is_sat = !strcmp(mode, "sat"), is_rate = !strcmp(mode, "rate"), is_cmd = !strcmp(mode, "cmd"),
        is_idle = !strcmp(mode, "idle");
    if (!(is_sat || is_rate || is_cmd || is_idle)) {
        fprintf(stderr, "loadgen: mode must be sat, rate, cmd or idle\n");
        return 2;
    }
    load_tokens();
    build_connections();
    epfd = epoll_create1(0);
    if (epfd < 0) fail("epoll_create1");

    double t_setup = mono();
    while (n_ready < n_conns) {
        pump_connects();
        poll_once(0.05);
        if (mono() - t_setup > setup_timeout || (closed > 0 && next_connect >= n_conns && n_pending == 0)) {
            printf("{\"error\":\"setup failed\",\"ready\":%d,\"wanted\":%d,\"closed\":%llu,\"auth_failed\":%llu}\n",
                   n_ready, n_conns, (unsigned long long)closed, (unsigned long long)auth_failed);
            return 1;
        }
    }
    double setup_s = mono() - t_setup;
    if (is_idle) {
        cpu_at_start = read_cpustat();
        printf("READY %d %.3f\n", n_ready, setup_s);
        fflush(stdout);
        for (double end = mono() + hold; mono() < end;) poll_once(0.1);
        print_result(0, -1, self_cpu(), setup_s);
        return 0;
    }
    if (is_cmd) {
        // Every printer reports once, so the server knows it is available; wait until the sessions saw it.
        for (int a = 0; a < n_agents; a++) send_status(a, wall_ns(), "available");
        for (double end = mono() + 30; mono() < end && recv_total < (uint64_t)n_agents;) poll_once(0.05);
        // A fleet's first statuses make the backend persist every printer; measure commands after that
        // settles (server CPU under 30 % for half a second, at most 120 s), not during it.
        double before = spid ? process_cpu(spid) : 0;
        for (double end = mono() + 120; spid && mono() < end;) {
            double t = mono();
            while (mono() - t < 0.5) poll_once(0.05);
            double now_cpu = process_cpu(spid);
            if (now_cpu - before < 0.15) break;
            before = now_cpu;
        }
    }
    double t0 = mono(), t_meas = t0 + warmup, t_end = t_meas + duration, meas_t0 = t_meas;
    double cpu_srv0 = 0, cpu_own0 = 0;
    uint64_t scheduled = 0;
    int64_t wall0 = wall_ns();
    int rr_session = 0;
    if (is_sat)
        for (int k = 0; k < window; k++) {
            int a = next_agent();
            if (a < 0) break;
            send_status(a, wall_ns(), "busy");
            inflight++;
        }
    for (;;) {
        double now = mono();
        if (!measuring && now >= t_meas) {
            measuring = 1;
            meas_t0 = now;
            cpu_own0 = self_cpu();
            cpu_srv0 = spid ? process_cpu(spid) : 0;
            cpu_at_start = read_cpustat();
        }
        if (now >= t_end) break;
        double timeout = 0.05;
        while (is_rate || is_cmd) {
            double due = t0 + (double)scheduled / rate;
            if (due > now) {
                if (due - now < timeout) timeout = due - now;
                break;
            }
            if (measuring) {
                double lag = now - due;
                if (lag > max_lag) max_lag = lag;
                lag_hist[bucket((uint64_t)(lag * 1e6))]++;
                lag_count++;
            }
            int64_t ts = wall0 + (int64_t)((due - t0) * 1e9);
            if (is_rate) {
                int a = next_agent();
                if (a < 0) break;
                send_status(a, ts, "busy");
            } else {
                if (n_users) send_command(rr_session++ % n_users, ts);
            }
            scheduled++;
        }
        if (t_end - now < timeout) timeout = t_end - now;
        poll_once(timeout);
        if (n_ready == 0) break;
    }
    double meas_s = mono() - meas_t0;
    double srv_cpu = spid ? (process_cpu(spid) - cpu_srv0) / meas_s : -1;
    print_result(meas_s, srv_cpu, (self_cpu() - cpu_own0) / meas_s, setup_s);
    return 0;
}
