// Diagnostic, not part of the product or of `make bench`: is sending the
// stream with vmsplice(2) + splice(2) cheaper than send(2)?
//
// Moves SIZE_MIB of a populated anonymous region over one connection, in
// 256 KiB chunks with 256 KiB socket buffers (as the bulk lane does), and
// prints the throughput and each side's CPU time per GiB (RUSAGE_THREAD).
//
//   gcc -O2 -o /tmp/splice-link bench/diagnostics/splice-link.c -lpthread
//   /tmp/splice-link MODE SIZE_MIB TCP
//
// MODE 0: send(2) from the region. MODE 1: vmsplice the region into a pipe,
// splice the pipe into the socket. MODE 2: as 1, with a 16-byte header sent
// before each chunk (MSG_MORE), as PAGES frames would need.
// TCP 1: TCP over 127.0.0.1; 0: a Unix socketpair.
// Results: bench/RESULTS.md, "Sending the stream with splice".
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

static size_t total, chunk = 256 << 10;
static int mode;
static uint8_t *region;
static int fds[2];
static double cpu_s[2];

static double tcpu(void) { struct rusage u; getrusage(RUSAGE_THREAD, &u); return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6; }

static void *sender(void *x) {
    int fd = fds[0];
    double c0 = tcpu();
    if (mode == 0) {
        for (size_t off = 0; off < total;) {
            ssize_t n = send(fd, region + off, chunk < total - off ? chunk : total - off, 0);
            if (n < 0) { perror("send"); exit(1); }
            off += n;
        }
    } else {
        int p[2]; if (pipe(p)) { perror("pipe"); exit(1); }
        if (fcntl(p[1], F_SETPIPE_SZ, (int)chunk) < 0) { perror("setpipe"); exit(1); }
        uint8_t hdr[16] = {0};
        for (size_t off = 0; off < total; off += chunk) {
            if (mode == 2) { if (send(fd, hdr, 16, MSG_MORE) != 16) { perror("hdr"); exit(1); } }
            struct iovec iov = { region + off, chunk };
            size_t left = chunk;
            while (iov.iov_len > 0) {
                ssize_t n = vmsplice(p[1], &iov, 1, 0);
                if (n < 0) { perror("vmsplice"); exit(1); }
                iov.iov_base = (uint8_t *)iov.iov_base + n; iov.iov_len -= n;
                while (n > 0) {
                    ssize_t m = splice(p[0], NULL, fd, NULL, n, SPLICE_F_MOVE | SPLICE_F_MORE);
                    if (m < 0) { perror("splice"); exit(1); }
                    n -= m; left -= m;
                }
            }
        }
    }
    cpu_s[0] = tcpu() - c0;
    return NULL;
}

int main(int argc, char **argv) {
    mode = atoi(argv[1]);
    total = (size_t)atoi(argv[2]) << 20;
    int tcp = argc > 3 ? atoi(argv[3]) : 1;
    region = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    for (size_t i = 0; i < total; i += 4096) region[i] = (uint8_t)i | 1;
    if (tcp) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
        socklen_t al = sizeof a;
        bind(l, (void *)&a, sizeof a); listen(l, 1); getsockname(l, (void *)&a, &al);
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        int b = 256 << 10;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
        connect(fds[0], (void *)&a, sizeof a);
        fds[1] = accept(l, NULL, NULL);
        setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
    } else {
        socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
        int b = 256 << 10;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
        setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
    }
    uint8_t *buf = aligned_alloc(4096, chunk);
    memset(buf, 0, chunk);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th; pthread_create(&th, NULL, sender, NULL);
    double c0 = tcpu();
    size_t want = total + (mode == 2 ? (total / chunk) * 16 : 0), got = 0;
    uint64_t sum = 0;
    while (got < want) {
        ssize_t n = recv(fds[1], buf, chunk, 0);
        if (n <= 0) { perror("recv"); exit(1); }
        got += n; sum += buf[0];
    }
    cpu_s[1] = tcpu() - c0;
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    double gib = total / (double)(1 << 30);
    printf("mode %d %s: %.2f GiB/s, sender %.3f CPU-s/GiB, receiver %.3f CPU-s/GiB (sum %lu)\n", mode, tcp ? "tcp" : "unix", gib / s, cpu_s[0] / gib, cpu_s[1] / gib, sum & 1);
    return 0;
}
