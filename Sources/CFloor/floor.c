#define _GNU_SOURCE
#include "CFloor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

int floor_uffd_open(void) {
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0) return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        close(uffd);
        return -1;
    }
    return uffd;
}

int floor_uffd_register(int uffd, void *base, size_t length) {
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)base, .len = length},
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

struct handler_args {
    int uffd, kind;
    const void *source;
    size_t page_size, faults;
};

static void *handler_main(void *raw) {
    struct handler_args args = *(struct handler_args *)raw;
    free(raw);
    struct uffd_msg messages[16];
    long served = 0;
    while ((size_t)served < args.faults) {
        ssize_t bytes = read(args.uffd, messages, sizeof messages);
        if (bytes < 0) {
            if (errno == EINTR) continue;
            return (void *)-1L;
        }
        for (ssize_t i = 0; i < bytes / (ssize_t)sizeof(struct uffd_msg); i++) {
            if (messages[i].event != UFFD_EVENT_PAGEFAULT) continue;
            unsigned long address = messages[i].arg.pagefault.address & ~(args.page_size - 1);
            if (args.kind == FLOOR_ZEROPAGE) {
                struct uffdio_zeropage zero = {.range = {.start = address, .len = args.page_size}};
                if (ioctl(args.uffd, UFFDIO_ZEROPAGE, &zero) != 0 && errno != EEXIST) return (void *)-1L;
            } else {
                struct uffdio_copy copy = {.dst = address, .src = (uintptr_t)args.source, .len = args.page_size};
                if (ioctl(args.uffd, UFFDIO_COPY, &copy) != 0 && errno != EEXIST) return (void *)-1L;
            }
            served++;
        }
    }
    return (void *)served;
}

int floor_handler_start(pthread_t *thread, int uffd, int kind, const void *source, size_t page_size, size_t faults) {
    struct handler_args *args = malloc(sizeof *args);
    if (!args) return ENOMEM;
    *args = (struct handler_args){uffd, kind, source, page_size, faults};
    int result = pthread_create(thread, NULL, handler_main, args);
    if (result != 0) free(args);
    return result;
}

long floor_handler_join(pthread_t thread) {
    void *served = NULL;
    if (pthread_join(thread, &served) != 0) return -1;
    return (long)served;
}

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t floor_touch(const volatile uint8_t *base, size_t pages, size_t page_size, uint64_t *ns) {
    uint64_t sum = 0;
    for (size_t i = 0; i < pages; i++) {
        uint64_t start = now_ns();
        sum += base[i * page_size];
        ns[i] = now_ns() - start;
    }
    return sum;
}

uint64_t floor_or_reduce(const void *p, size_t length) {
    const uint64_t *words = p;
    uint64_t acc[8] = {0};
    size_t count = length / 8, i = 0;
    for (; i + 8 <= count; i += 8)
        for (int k = 0; k < 8; k++) acc[k] |= words[i + k];
    for (; i < count; i++) acc[0] |= words[i];
    return acc[0] | acc[1] | acc[2] | acc[3] | acc[4] | acc[5] | acc[6] | acc[7];
}

uint64_t floor_touch_order(const volatile uint8_t *base, const uint32_t *order, size_t pages, size_t page_size,
                           uint64_t *ns) {
    uint64_t sum = 0;
    for (size_t i = 0; i < pages; i++) {
        const volatile uint8_t *byte = base + (size_t)order[i] * page_size;
        uint64_t start = now_ns();
        sum += *byte;
        ns[i] = now_ns() - start;
    }
    return sum;
}

// MARK: - Sockets

// Returned by recv_all when the peer closed cleanly before the first byte:
// the normal end of a request stream. Not an errno (those are positive).
#define FLOOR_END (-1)

/// Sends all `length` bytes. MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE.
/// 0 or an errno.
static int send_all(int fd, const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    while (length > 0) {
        ssize_t sent = send(fd, p, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += sent;
        length -= (size_t)sent;
    }
    return 0;
}

/// Sends every byte of `count` buffers, with as few sendmsg calls as the
/// kernel allows. Advances `iov` in place. 0 or an errno.
static int sendv_all(int fd, struct iovec *iov, int count) {
    while (count > 0) {
        struct msghdr message = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t sent = sendmsg(fd, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        while (count > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}

/// Receives exactly `length` bytes. 0; FLOOR_END if the peer closed before
/// the first byte; EPIPE if it closed in the middle; or an errno.
static int recv_all(int fd, void *bytes, size_t length) {
    uint8_t *p = bytes;
    size_t done = 0;
    while (done < length) {
        ssize_t got = recv(fd, p + done, length - done, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (got == 0) return done == 0 ? FLOOR_END : EPIPE;
        done += (size_t)got;
    }
    return 0;
}

static int set_int_option(int fd, int level, int option, int value) {
    return setsockopt(fd, level, option, &value, sizeof value) == 0 ? 0 : errno;
}

/// Tunes one end: TCP_NODELAY (TCP only; the urgent lane), and SO_SNDBUF plus
/// SO_RCVBUF of `buffer` bytes if `buffer` > 0 (the bulk lane; the kernel caps
/// them at net.core.wmem_max / rmem_max). 0 or an errno.
static int tune_socket(int fd, int transport, int nodelay, int buffer) {
    int error = 0;
    if (nodelay && transport == FLOOR_TCP) error = set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (!error && buffer > 0) error = set_int_option(fd, SOL_SOCKET, SO_SNDBUF, buffer);
    if (!error && buffer > 0) error = set_int_option(fd, SOL_SOCKET, SO_RCVBUF, buffer);
    return error;
}

/// A connected stream-socket pair: fds[0] for the source side, fds[1] for
/// the destination. Unix: socketpair(2). TCP: a listener on 127.0.0.1 (port
/// chosen by the kernel), connect, accept, listener closed. Both ends tuned by
/// tune_socket. 0 or an errno, with nothing left open on error.
static int socket_pair(int transport, int nodelay, int buffer, int fds[2]) {
    int error = 0;
    fds[0] = fds[1] = -1;
    if (transport == FLOOR_UNIX) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return errno;
    } else if (transport == FLOOR_TCP) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0,
                                      .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
        socklen_t length = sizeof address;
        int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0) return errno;
        if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1) != 0 ||
            getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
            error = errno;
        } else if ((fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
            error = errno;
        } else if (connect(fds[1], (struct sockaddr *)&address, sizeof address) != 0) {
            error = errno;
        } else if ((fds[0] = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0) {
            error = errno;
        }
        if (close(listener) != 0 && !error) error = errno;
    } else {
        return EINVAL;
    }
    for (int i = 0; i < 2 && !error; i++) error = tune_socket(fds[i], transport, nodelay, buffer);
    if (error) {
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0) close(fds[i]);  // already failing: the first error is the one reported
        fds[0] = fds[1] = -1;
    }
    return error;
}

// MARK: - Remote faults

// One run of floor_remote_faults, shared by its threads. Each thread owns
// one socket end and closes it when it exits (normally or on error): a
// closed end is what unblocks the peer thread (EOF, EPIPE or ECONNRESET),
// so one failure ends the whole run instead of hanging it.
struct remote_run {
    size_t pages, page_size;
    uint8_t *region;        // destination: `pages` pages + the stop page
    const uint8_t *source;  // the source's copy of the region
    int uffd;
    int request[2];         // request lane: [0] source end, [1] handler end
    int stream[2];          // stream lane: [0] streamer end, [1] receiver end
    uint8_t *reply;         // handler's page buffer (page-aligned)
    uint8_t *chunk;         // receiver's chunk buffer (page-aligned)
    uint8_t *faulted;       // per page: 1 if the handler got a fault for it
    const uint8_t *stream_cpus;  // CPU mask for the stream's two threads, or NULL
    size_t stream_cpus_bytes;
    atomic_int error;       // first errno any thread met, 0 if none
    // Results, each written by one thread and read after it is joined.
    uint64_t faults, faults_present;
    uint64_t stream_start, stream_end, stream_pages, stream_present;
};

/// Records `error` if it is the run's first.
static void remote_fail(struct remote_run *run, int error) {
    int none = 0;
    atomic_compare_exchange_strong(&run->error, &none, error);
}

/// Closes a thread's own socket end, recording a failure of close itself.
static void remote_close(struct remote_run *run, int *fd) {
    if (*fd >= 0 && close(*fd) != 0) remote_fail(run, errno);
    *fd = -1;
}

/// The source's request server: reads an 8-byte page index, answers with that
/// page's bytes, until the handler closes its end.
static void *remote_source_main(void *raw) {
    struct remote_run *run = raw;
    for (;;) {
        uint64_t page;
        int error = recv_all(run->request[0], &page, sizeof page);
        if (error == FLOOR_END) break;
        if (!error && page >= run->pages) error = EPROTO;
        if (!error) error = send_all(run->request[0], run->source + page * run->page_size, run->page_size);
        if (error) {
            remote_fail(run, error);
            break;
        }
    }
    remote_close(run, &run->request[0]);
    return NULL;
}

/// The destination's fault handler: blocking read() of up to 16 messages;
/// per fault, sends the page index, reads the 4 KiB reply, UFFDIO_COPY. A
/// fault on the stop page (one past the region) is zero-filled and ends it.
/// EEXIST from the copy means the stream placed the page meanwhile (its copy
/// woke the toucher unless the toucher queued just after): UFFDIO_WAKE.
/// On any error it unregisters the region, which wakes the toucher and lets
/// it run to the end on zero pages, so the run cannot hang.
static void *remote_handler_main(void *raw) {
    struct remote_run *run = raw;
    uintptr_t base = (uintptr_t)run->region;
    struct uffd_msg messages[16];
    int error = 0, stop = 0;
    while (!error && !stop) {
        ssize_t bytes = read(run->uffd, messages, sizeof messages);
        if (bytes < 0) {
            if (errno != EINTR) error = errno;
            continue;
        }
        for (ssize_t i = 0; i < bytes / (ssize_t)sizeof(struct uffd_msg) && !error; i++) {
            if (messages[i].event != UFFD_EVENT_PAGEFAULT) continue;
            uintptr_t address = messages[i].arg.pagefault.address & ~(uintptr_t)(run->page_size - 1);
            uint64_t page = (address - base) / run->page_size;
            if (page == run->pages) {
                struct uffdio_zeropage zero = {.range = {.start = address, .len = run->page_size}};
                if (ioctl(run->uffd, UFFDIO_ZEROPAGE, &zero) != 0 && errno != EEXIST) error = errno;
                stop = 1;
                continue;
            }
            run->faulted[page] = 1;
            run->faults++;
            error = send_all(run->request[1], &page, sizeof page);
            if (!error) error = recv_all(run->request[1], run->reply, run->page_size);
            if (error == FLOOR_END) error = EPIPE;
            if (error) break;
            struct uffdio_copy copy = {.dst = address, .src = (uintptr_t)run->reply, .len = run->page_size};
            int result;
            while ((result = ioctl(run->uffd, UFFDIO_COPY, &copy)) != 0 && errno == EAGAIN) copy.copy = 0;
            if (result != 0 && errno == EEXIST) {
                run->faults_present++;
                struct uffdio_range range = {.start = address, .len = run->page_size};
                if (ioctl(run->uffd, UFFDIO_WAKE, &range) != 0) error = errno;
            } else if (result != 0) {
                error = errno;
            }
        }
    }
    if (error) {
        remote_fail(run, error);
        struct uffdio_range all = {.start = base, .len = (run->pages + 1) * run->page_size};
        if (ioctl(run->uffd, UFFDIO_UNREGISTER, &all) != 0) remote_fail(run, errno);
    }
    remote_close(run, &run->request[1]);
    return NULL;
}

/// Confines the calling stream thread to the run's stream CPUs, if any.
static int remote_confine(const struct remote_run *run) {
    if (!run->stream_cpus) return 0;
    return sched_setaffinity(0, run->stream_cpus_bytes, (const cpu_set_t *)run->stream_cpus) == 0 ? 0 : errno;
}

/// The source's background stream: every page once, in order, in chunks of
/// FLOOR_STREAM_CHUNK_PAGES pages, each after an 8-byte header (its first
/// page index), one sendmsg per chunk, as fast as the socket takes them.
static void *remote_streamer_main(void *raw) {
    struct remote_run *run = raw;
    int error = remote_confine(run);
    run->stream_start = now_ns();
    for (uint64_t first = 0; first < run->pages && !error; first += FLOOR_STREAM_CHUNK_PAGES) {
        uint64_t count = run->pages - first < FLOOR_STREAM_CHUNK_PAGES ? run->pages - first : FLOOR_STREAM_CHUNK_PAGES;
        struct iovec iov[2] = {
            {.iov_base = &first, .iov_len = sizeof first},
            {.iov_base = (void *)(run->source + first * run->page_size), .iov_len = count * run->page_size},
        };
        error = sendv_all(run->stream[0], iov, 2);
    }
    if (error) remote_fail(run, error);
    remote_close(run, &run->stream[0]);
    return NULL;
}

/// Places `count` pages from run->chunk at page `first` with UFFDIO_COPY
/// (one ioctl for the chunk when none is present yet). Pages already present
/// (faulted in first) are skipped: the ioctl stops at one with EEXIST, or
/// reports a partial copy, and the loop carries on after it. 0 or an errno.
static int remote_place(struct remote_run *run, uint64_t first, uint64_t count) {
    size_t done = 0, length = count * run->page_size;
    while (done < length) {
        struct uffdio_copy copy = {.dst = (uintptr_t)run->region + first * run->page_size + done,
                                   .src = (uintptr_t)run->chunk + done, .len = length - done};
        if (ioctl(run->uffd, UFFDIO_COPY, &copy) == 0) return 0;
        if (copy.copy > 0) {
            done += (size_t)copy.copy;  // partial: stopped at a present page or an address-space change
        } else if (errno == EEXIST) {
            done += run->page_size;  // the first page is present: skip it
            run->stream_present++;
        } else if (errno != EAGAIN) {
            return errno;
        }
    }
    return 0;
}

/// The destination's stream receiver: reads each header and chunk fully and
/// places it, until every page has arrived.
static void *remote_receiver_main(void *raw) {
    struct remote_run *run = raw;
    int error = remote_confine(run);
    uint64_t next = 0;
    while (next < run->pages && !error) {
        uint64_t first;
        error = recv_all(run->stream[1], &first, sizeof first);
        if (!error && first != next) error = EPROTO;  // the stream skips nothing and keeps order
        uint64_t count = run->pages - next < FLOOR_STREAM_CHUNK_PAGES ? run->pages - next : FLOOR_STREAM_CHUNK_PAGES;
        if (!error) error = recv_all(run->stream[1], run->chunk, count * run->page_size);
        if (!error) error = remote_place(run, first, count);
        next += count;
    }
    run->stream_end = now_ns();
    run->stream_pages = next;
    if (error == FLOOR_END) error = EPIPE;
    if (error) remote_fail(run, error);
    remote_close(run, &run->stream[1]);
    return NULL;
}

/// Maps `length` bytes of private anonymous memory; NULL (errno set) on failure.
static void *map_anonymous(size_t length) {
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int floor_remote_faults(int transport, int stream, size_t pages, const uint32_t *order, uint64_t *ns,
                        uint8_t *faulted, const uint8_t *stream_cpus, size_t stream_cpus_bytes,
                        struct floor_remote_stats *stats) {
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return errno ? errno : EINVAL;
    if (pages == 0 || pages > UINT32_MAX || (transport != FLOOR_UNIX && transport != FLOOR_TCP)) return EINVAL;
    struct remote_run run = {.pages = pages, .page_size = (size_t)page_size, .uffd = -1,
                             .request = {-1, -1}, .stream = {-1, -1}, .faulted = faulted,
                             .stream_cpus = stream_cpus, .stream_cpus_bytes = stream_cpus_bytes};
    atomic_init(&run.error, 0);
    memset(faulted, 0, pages);
    size_t length = pages * run.page_size;
    int error = 0;

    // Source's copy: every byte of page p is (p * 131 + 7) mod 256 except the
    // first 8, which hold p, so any misplaced page shows in the final check.
    uint8_t *source = map_anonymous(length);
    if (!source) error = errno;
    if (!error && !(run.region = map_anonymous(length + run.page_size))) error = errno;
    if (!error) error = posix_memalign((void **)&run.reply, run.page_size, run.page_size);
    if (!error) error = posix_memalign((void **)&run.chunk, run.page_size, FLOOR_STREAM_CHUNK_PAGES * run.page_size);
    if (!error) {
        for (size_t p = 0; p < pages; p++) {
            memset(source + p * run.page_size, (int)((p * 131 + 7) & 0xff), run.page_size);
            memcpy(source + p * run.page_size, &(uint64_t){p}, sizeof(uint64_t));
        }
        run.source = source;
        run.uffd = floor_uffd_open();
        if (run.uffd < 0) error = errno;
    }
    if (!error && floor_uffd_register(run.uffd, run.region, length + run.page_size) != 0) error = errno;
    if (!error) error = socket_pair(transport, 1, 0, run.request);
    if (!error && stream) error = socket_pair(transport, 0, FLOOR_BULK_SOCKET_BUFFER, run.stream);

    // Threads: source, handler, then (stream) receiver, streamer. A thread
    // that never started leaves its socket end to be closed here, which
    // ends its peer; the handler, once started, is ended by the stop page.
    pthread_t source_thread, handler_thread, receiver_thread, streamer_thread;
    int source_started = 0, handler_started = 0, receiver_started = 0, streamer_started = 0;
    if (!error && !(error = pthread_create(&source_thread, NULL, remote_source_main, &run))) source_started = 1;
    if (!error && !(error = pthread_create(&handler_thread, NULL, remote_handler_main, &run))) handler_started = 1;
    if (!error && stream && !(error = pthread_create(&receiver_thread, NULL, remote_receiver_main, &run)))
        receiver_started = 1;
    if (!error && stream && !(error = pthread_create(&streamer_thread, NULL, remote_streamer_main, &run)))
        streamer_started = 1;
    if (error) remote_fail(&run, error);

    uint64_t touch_start = now_ns();
    if (!error) {
        if (order) {
            for (size_t i = 0; i < pages; i++)
                if (order[i] >= pages) remote_fail(&run, EINVAL);
        }
        if (atomic_load(&run.error) == 0) {
            if (order) floor_touch_order(run.region, order, pages, run.page_size, ns);
            else floor_touch(run.region, pages, run.page_size, ns);
        }
    }
    uint64_t touch_end = now_ns();
    if (handler_started) (void)*(volatile uint8_t *)(run.region + length);  // the stop page: ends the handler

    if (!handler_started && run.request[1] >= 0 && close(run.request[1]) != 0) remote_fail(&run, errno);
    if (!source_started && run.request[0] >= 0 && close(run.request[0]) != 0) remote_fail(&run, errno);
    if (!streamer_started && run.stream[0] >= 0 && close(run.stream[0]) != 0) remote_fail(&run, errno);
    if (!receiver_started && run.stream[1] >= 0 && close(run.stream[1]) != 0) remote_fail(&run, errno);
    int join = 0;
    if (handler_started && (join = pthread_join(handler_thread, NULL))) remote_fail(&run, join);
    if (source_started && (join = pthread_join(source_thread, NULL))) remote_fail(&run, join);
    if (streamer_started && (join = pthread_join(streamer_thread, NULL))) remote_fail(&run, join);
    if (receiver_started && (join = pthread_join(receiver_thread, NULL))) remote_fail(&run, join);

    error = atomic_load(&run.error);
    // Every page must now hold the source's bytes (EBADMSG if one does not).
    if (!error && memcmp(run.region, source, length) != 0) error = EBADMSG;
    if (!error && stats) {
        *stats = (struct floor_remote_stats){
            .faults = run.faults, .faults_present = run.faults_present, .stream_pages = run.stream_pages,
            .stream_present = run.stream_present, .stream_ns = stream ? run.stream_end - run.stream_start : 0,
            .touch_ns = touch_end - touch_start};
    }

    if (run.uffd >= 0 && close(run.uffd) != 0 && !error) error = errno;
    if (run.region && munmap(run.region, length + run.page_size) != 0 && !error) error = errno;
    if (source && munmap(source, length) != 0 && !error) error = errno;
    free(run.reply);
    free(run.chunk);
    return error;
}

// MARK: - Populate

int floor_populate(size_t bytes, int mode, uint64_t *elapsed_ns) {
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return errno ? errno : EINVAL;
    size_t ps = (size_t)page_size, chunk = FLOOR_STREAM_CHUNK_PAGES * ps;
    if (bytes == 0 || bytes % chunk != 0) return EINVAL;
    if (mode != FLOOR_POPULATE_TOUCH && mode != FLOOR_POPULATE_MEMSET && mode != FLOOR_POPULATE_UFFD_COPY)
        return EINVAL;
    uint8_t *region = map_anonymous(bytes);
    if (!region) return errno;
    int error = 0, uffd = -1;
    uint8_t *source = NULL;
    // 4 KiB pages, as a userfaultfd-registered region gets (no THP, whatever
    // the system's transparent_hugepage setting).
    if (madvise(region, bytes, MADV_NOHUGEPAGE) != 0) error = errno;
    if (!error && mode == FLOOR_POPULATE_UFFD_COPY) {
        error = posix_memalign((void **)&source, ps, chunk);
        if (!error) memset(source, 0xA5, chunk);
        if (!error && (uffd = floor_uffd_open()) < 0) error = errno;
        if (!error && floor_uffd_register(uffd, region, bytes) != 0) error = errno;
    }
    if (!error) {
        uint64_t start = now_ns();
        switch (mode) {
        case FLOOR_POPULATE_TOUCH:
            for (size_t offset = 0; offset < bytes; offset += ps) ((volatile uint8_t *)region)[offset] = 1;
            break;
        case FLOOR_POPULATE_MEMSET:
            memset(region, 1, bytes);
            break;
        case FLOOR_POPULATE_UFFD_COPY:
            for (size_t offset = 0; offset < bytes && !error; offset += chunk) {
                struct uffdio_copy copy = {.dst = (uintptr_t)region + offset, .src = (uintptr_t)source, .len = chunk};
                if (ioctl(uffd, UFFDIO_COPY, &copy) != 0) error = errno;  // fresh region: nothing is present
            }
            break;
        }
        *elapsed_ns = now_ns() - start;
        // A cheap check that the pages are really there.
        if (!error && region[bytes - ps] != (mode == FLOOR_POPULATE_UFFD_COPY ? 0xA5 : 1)) error = EBADMSG;
    }
    if (uffd >= 0 && close(uffd) != 0 && !error) error = errno;
    if (munmap(region, bytes) != 0 && !error) error = errno;
    free(source);
    return error;
}

// MARK: - Link

struct link_sender {
    int fd;
    size_t bytes, chunk;
    const uint8_t *buffer;
    uint64_t start;
    int error;
};

/// Sends `bytes` bytes in `chunk`-byte send() calls (each call may send less:
/// send_all finishes the chunk), then closes its end.
static void *link_sender_main(void *raw) {
    struct link_sender *sender = raw;
    sender->start = now_ns();
    for (size_t sent = 0; sent < sender->bytes && !sender->error;) {
        size_t length = sender->bytes - sent < sender->chunk ? sender->bytes - sent : sender->chunk;
        sender->error = send_all(sender->fd, sender->buffer, length);
        sent += length;
    }
    if (close(sender->fd) != 0 && !sender->error) sender->error = errno;
    return NULL;
}

/// The plain receiver: read() up to `chunk` bytes at a time until all arrived.
static int read_receiver(int fd, size_t bytes, size_t chunk, void *context) {
    (void)context;
    uint8_t *in = malloc(chunk);
    if (!in) return ENOMEM;
    int error = 0;
    size_t received = 0;
    while (!error && received < bytes) {
        ssize_t got = read(fd, in, chunk);
        if (got < 0) {
            if (errno != EINTR) error = errno;
        } else if (got == 0) {
            error = EPIPE;  // the sender stopped early (its own error, if any, is reported instead)
        } else {
            received += (size_t)got;
        }
    }
    free(in);
    return error;
}

int floor_link(int transport, size_t bytes, size_t chunk, int socket_buffer, uint64_t *elapsed_ns) {
    return floor_link_receiving(transport, bytes, chunk, socket_buffer, read_receiver, NULL, elapsed_ns);
}

int floor_link_receiving(int transport, size_t bytes, size_t chunk, int socket_buffer,
                         floor_link_receiver receiver, void *context, uint64_t *elapsed_ns) {
    if (bytes == 0 || chunk == 0 || !receiver) return EINVAL;
    int fds[2];
    int error = socket_pair(transport, 0, socket_buffer, fds);
    if (error) return error;
    uint8_t *out = malloc(chunk);
    if (!out) error = ENOMEM;
    struct link_sender sender = {.fd = fds[0], .bytes = bytes, .chunk = chunk, .buffer = out};
    pthread_t thread;
    int started = 0;
    if (!error) {
        memset(out, 0x5A, chunk);  // populated before the clock starts
        error = pthread_create(&thread, NULL, link_sender_main, &sender);
        started = !error;
    }
    if (!started && close(fds[0]) != 0 && !error) error = errno;

    if (!error) error = receiver(fds[1], bytes, chunk, context);
    uint64_t end = now_ns();
    // Closing the receiving end first unblocks a sender still in send() (EPIPE/ECONNRESET).
    if (close(fds[1]) != 0 && !error) error = errno;
    if (started) {
        int join = pthread_join(thread, NULL);
        // The sender's error explains an early EOF here; otherwise the first error stands.
        if (sender.error && (!error || error == EPIPE)) error = sender.error;
        else if (join && !error) error = join;
    }
    if (!error) *elapsed_ns = end - sender.start;
    free(out);
    return error;
}
