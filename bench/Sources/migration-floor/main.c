// The demo's migration in minimal C: a floor for migration time, so the
// library's figure can be compared with what the simplest correct postcopy
// migration achieves on the same machine, in the same run.
//
//   migration-floor --size BYTES --free FRACTION [--threads N] [--seed N]
//                   [--transport tcp|unix] [--placers 0|1] [--rounds N]
//                   [--populate 0|1]
//
// Per round, two processes (forked while this one has a single thread):
//
// - The source maps the region and fills it, laid out as
//   `postcopy demo --untouched 0 --zero 0` lays it out (16-page chunks, free
//   with probability FRACTION, the same hash and seed; free pages hold
//   garbage that must not travel). Once the destination
//   says go, it streams the data pages in order in 64-page frames on a bulk
//   connection, and a second thread answers 4-byte page requests on an urgent
//   connection. A page goes out once, by whichever path claims it first.
// - The destination starts its clock, maps and registers the region
//   (UFFDIO_REGISTER, missing faults), says go, zero-maps the free chunks
//   (UFFDIO_ZEROPAGE) and places streamed pages (UFFDIO_COPY, 64 pages at a
//   time) in the receiving thread or, with --placers 1, in a placing thread
//   fed through a ring of frame buffers. With --threads N it runs the demo's
//   workload meanwhile: N threads touching random pages (the demo's generator;
//   a quarter of the touches write back what they read), whose faults a
//   handler serves: free pages zero-filled, data pages requested once.
//   The clock stops when every page is held. Then every data page is checked
//   byte for byte against the source's pattern and every free page for zeros.
//
// The clocks are not quite alike: this one starts once the connections are
// up, and the destination knows the layout without receiving it (fork shares
// it), where the library's clock also covers connecting, the handshake and
// the skip bitmap: a few milliseconds of a 2 GiB run.
//
// With --populate 1, each round first measures the populate floor
// for the data bytes (CFloor's floor_populate: first touch of fresh memory)
// at that moment, so the round's ratio meets the same state of the machine:
// here a VM whose host takes back memory the guest reports free.
//
// One JSON object per round on standard output.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "CFloor.h"

#define PAGE 4096UL
#define CHUNK_PAGES 16
#define FRAME_PAGES 64
#define RING 4

struct header { uint32_t first, count; };

static void die(const char *what) {
    fprintf(stderr, "migration-floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

// The demo's layout (DemoLayout.pageClass with no untouched or zero pages).
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint8_t *free_chunks;  // one byte per 16-page chunk: 1 = free
static size_t pages, chunks, data_pages, free_pages;

static void lay_out(uint64_t seed, double fraction) {
    chunks = (pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
    free_chunks = calloc(chunks, 1);
    if (!free_chunks) die("calloc");
    free_pages = 0;
    for (size_t c = 0; c < chunks; c++) {
        double u = (double)(mix(seed ^ ((uint64_t)c * 0x9E3779B97F4A7C15ULL)) >> 11) / (double)(1ULL << 53);
        free_chunks[c] = u < fraction;
        if (free_chunks[c]) {
            size_t end = (c + 1) * CHUNK_PAGES < pages ? (c + 1) * CHUNK_PAGES : pages;
            free_pages += end - c * CHUNK_PAGES;
        }
    }
    data_pages = pages - free_pages;
}

static int page_free(size_t page) { return free_chunks[page / CHUNK_PAGES]; }

// A data page's first word names it; the rest is a byte pattern.
static uint64_t marker(size_t page) { return 0xDA7A000000000000ULL | page; }

// In the source: the destination hanging up ends it, quietly.
static int exit_on_hangup;

static void send_failed(const char *what) {
    if (exit_on_hangup && (errno == EPIPE || errno == ECONNRESET)) exit(0);
    die(what);
}

static void send_all(int fd, const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    while (length > 0) {
        ssize_t n = send(fd, p, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) send_failed("send");
        p += n;
        length -= (size_t)n;
    }
}

// Sends a header and pages in one sendmsg where it fits.
static void send_frame(int fd, uint32_t first, uint32_t count, const uint8_t *data) {
    struct header h = { first, count };
    struct iovec v[2] = { { &h, sizeof h }, { (void *)data, count * PAGE } };
    struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
    size_t left = sizeof h + count * PAGE;
    while (left > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) send_failed("sendmsg");
        left -= (size_t)n;
        while (n > 0 && m.msg_iovlen > 0) {
            if ((size_t)n >= m.msg_iov->iov_len) { n -= (ssize_t)m.msg_iov->iov_len; m.msg_iov++; m.msg_iovlen--; }
            else { m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + n; m.msg_iov->iov_len -= (size_t)n; n = 0; }
        }
    }
}

// 1 with all `length` bytes, 0 at a clean end of stream before any byte.
static int recv_all(int fd, void *bytes, size_t length) {
    uint8_t *p = bytes;
    size_t got = 0;
    while (got < length) {
        ssize_t n = recv(fd, p + got, length - got, MSG_WAITALL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("recv");
        if (n == 0) {
            if (got == 0) return 0;
            errno = EPIPE;
            die("recv: stream cut mid-frame");
        }
        got += (size_t)n;
    }
    return 1;
}

// ---- source ---------------------------------------------------------------

static uint8_t *source_region;
static _Atomic uint8_t *claimed;  // per page: sent (or being sent) by one path

static int claim(size_t page) { return atomic_exchange_explicit(&claimed[page], 1, memory_order_relaxed) == 0; }

struct source_lanes { int urgent, bulk; };

static void *answer_requests(void *raw) {
    const struct source_lanes *lanes = raw;
    uint32_t page;
    while (recv_all(lanes->urgent, &page, sizeof page)) {
        if (page >= pages) { errno = ERANGE; die("request"); }
        // A page the stream already sent arrives on the bulk lane.
        if (claim(page)) send_frame(lanes->urgent, page, 1, source_region + page * PAGE);
    }
    return NULL;
}

static void run_source(int urgent, int bulk, int ready) {
    exit_on_hangup = 1;
    source_region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    claimed = calloc(pages, 1);
    if (source_region == MAP_FAILED || !claimed) die("source memory");
    for (size_t page = 0; page < pages; page++) {
        uint8_t *p = source_region + page * PAGE;
        if (page_free(page)) {
            // Stale garbage, as the demo's source has: the same memory
            // touched, and none of it may reach the destination.
            memset(p, 0xF4, PAGE);
            continue;
        }
        memset(p, (int)(page * 7 + 1) & 0xff, PAGE);
        memcpy(p, &(uint64_t){ marker(page) }, 8);
    }
    send_all(ready, "r", 1);  // filled: the destination may start its clock
    uint8_t go;
    if (!recv_all(urgent, &go, 1)) exit(0);
    struct source_lanes lanes = { urgent, bulk };
    pthread_t answering;
    if (pthread_create(&answering, NULL, answer_requests, &lanes)) die("pthread_create");
    size_t page = 0;
    while (page < pages) {
        while (page < pages && (page_free(page) || !claim(page))) page++;
        size_t first = page;
        while (page < pages && page - first < FRAME_PAGES && !page_free(page) && (page == first || claim(page))) page++;
        if (page > first) send_frame(bulk, (uint32_t)first, (uint32_t)(page - first), source_region + first * PAGE);
    }
    pthread_join(answering, NULL);  // until the destination hangs up
    exit(0);
}

// ---- destination ------------------------------------------------------------

static uint8_t *region;
static int uffd, urgent_fd, bulk_fd, stop_fd;
static atomic_size_t placed;        // data pages placed
static atomic_size_t zeroed;        // free pages mapped
static atomic_size_t requests, accesses, workload_faults;
static atomic_int stopping;
static atomic_int finishing;  // set before this side hangs up: an end of stream is expected
static _Atomic uint8_t *requested;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

static void note_progress(void) {
    if (atomic_load(&placed) == data_pages && atomic_load(&zeroed) == free_pages) {
        pthread_mutex_lock(&done_lock);
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
    }
}

static void wake(size_t page, size_t count) {
    struct uffdio_range r = { (uint64_t)(uintptr_t)(region + page * PAGE), count * PAGE };
    if (ioctl(uffd, UFFDIO_WAKE, &r)) die("UFFDIO_WAKE");
}

// COPY or ZEROPAGE over pages [page, page + count), stepping over pages
// already present (EEXIST); returns how many this call placed.
static size_t resolve(size_t page, size_t count, const uint8_t *source) {
    size_t done = 0, newly = 0;
    while (done < count) {
        size_t at = page + done, left = count - done;
        long result;
        int failed;
        if (source) {
            struct uffdio_copy c = { (uint64_t)(uintptr_t)(region + at * PAGE), (uint64_t)(uintptr_t)(source + done * PAGE),
                                     left * PAGE, 0, 0 };
            failed = ioctl(uffd, UFFDIO_COPY, &c);
            result = (long)c.copy;
        } else {
            struct uffdio_zeropage z = { { (uint64_t)(uintptr_t)(region + at * PAGE), left * PAGE }, 0, 0 };
            failed = ioctl(uffd, UFFDIO_ZEROPAGE, &z);
            result = (long)z.zeropage;
        }
        if (!failed) { newly += left; break; }
        if (errno == EAGAIN && result <= 0) continue;
        size_t made = result > 0 ? (size_t)result / PAGE : 0;
        newly += made;
        done += made;
        if (errno == EEXIST || errno == EAGAIN) {
            if (errno == EEXIST) {
                wake(page + done, 1);  // a thread may wait on it: the page's placer woke it, or will
                done += 1;
            }
            continue;
        }
        die(source ? "UFFDIO_COPY" : "UFFDIO_ZEROPAGE");
    }
    return newly;
}

struct ring_slot { struct header h; uint8_t *data; };
static struct ring_slot ring[RING];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static size_t ring_filled, ring_emptied;  // counts, modulo RING for the slot

static void place_frame(const struct header *h, const uint8_t *data) {
    atomic_fetch_add(&placed, resolve(h->first, h->count, data));
    note_progress();
}

static void *placing(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&ring_lock);
        while (ring_emptied == ring_filled) pthread_cond_wait(&ring_cond, &ring_lock);
        struct ring_slot *slot = &ring[ring_emptied % RING];
        pthread_mutex_unlock(&ring_lock);
        if (slot->h.count == 0) return NULL;  // end of stream
        place_frame(&slot->h, slot->data);
        pthread_mutex_lock(&ring_lock);
        ring_emptied++;
        pthread_cond_broadcast(&ring_cond);
        pthread_mutex_unlock(&ring_lock);
    }
}

static int placers;

// An end of stream on a lane before this side hung up: the source is gone and
// the pages it held will never come.
static void check_hangup(const char *lane) {
    if (atomic_load(&finishing)) return;
    fprintf(stderr, "migration-floor: the source hung up (%s lane) before every page arrived\n", lane);
    exit(1);
}

static void *receiving_bulk(void *unused) {
    (void)unused;
    uint8_t *own = aligned_alloc(PAGE, FRAME_PAGES * PAGE);
    if (!own) die("aligned_alloc");
    for (;;) {
        struct header h;
        struct ring_slot *slot = NULL;
        uint8_t *buffer = own;
        int more = recv_all(bulk_fd, &h, sizeof h);
        if (more && (h.count == 0 || h.count > FRAME_PAGES || h.first + (uint64_t)h.count > pages)) {
            errno = ERANGE;
            die("bulk frame");
        }
        if (placers) {
            pthread_mutex_lock(&ring_lock);
            while (ring_filled - ring_emptied == RING) pthread_cond_wait(&ring_cond, &ring_lock);
            slot = &ring[ring_filled % RING];
            pthread_mutex_unlock(&ring_lock);
            buffer = slot->data;
        }
        if (more) recv_all(bulk_fd, buffer, h.count * PAGE);
        else { check_hangup("bulk"); h.count = 0; }
        if (placers) {
            slot->h = h;
            pthread_mutex_lock(&ring_lock);
            ring_filled++;
            pthread_cond_broadcast(&ring_cond);
            pthread_mutex_unlock(&ring_lock);
        } else if (more) {
            place_frame(&h, buffer);
        }
        if (!more) break;
    }
    free(own);
    return NULL;
}

static void *receiving_urgent(void *unused) {
    (void)unused;
    uint8_t *page = aligned_alloc(PAGE, PAGE);
    if (!page) die("aligned_alloc");
    struct header h;
    while (recv_all(urgent_fd, &h, sizeof h)) {
        if (h.count != 1 || h.first >= pages) { errno = ERANGE; die("reply"); }
        recv_all(urgent_fd, page, PAGE);
        place_frame(&h, page);
    }
    check_hangup("urgent");
    free(page);
    return NULL;
}

static void *zero_mapping(void *unused) {
    (void)unused;
    size_t c = 0;
    while (c < chunks) {
        if (!free_chunks[c]) { c++; continue; }
        size_t first = c;
        while (c < chunks && free_chunks[c]) c++;
        size_t start = first * CHUNK_PAGES, end = c * CHUNK_PAGES < pages ? c * CHUNK_PAGES : pages;
        atomic_fetch_add(&zeroed, resolve(start, end - start, NULL));
        note_progress();
    }
    return NULL;
}

static void *handling_faults(void *unused) {
    (void)unused;
    struct uffd_msg messages[16];
    struct pollfd watch[2] = { { uffd, POLLIN, 0 }, { stop_fd, POLLIN, 0 } };
    for (;;) {
        if (poll(watch, 2, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
        if (watch[1].revents) return NULL;
        ssize_t n = read(uffd, messages, sizeof messages);
        if (n < 0) { if (errno == EAGAIN || errno == EINTR) continue; die("read uffd"); }
        for (ssize_t i = 0; i < n / (ssize_t)sizeof *messages; i++) {
            if (messages[i].event != UFFD_EVENT_PAGEFAULT) continue;
            size_t page = (size_t)((uint8_t *)(uintptr_t)messages[i].arg.pagefault.address - region) / PAGE;
            atomic_fetch_add(&workload_faults, 1);
            if (page_free(page)) {
                atomic_fetch_add(&zeroed, resolve(page, 1, NULL));
                note_progress();
            } else if (atomic_exchange(&requested[page], 1) == 0) {
                uint32_t index = (uint32_t)page;
                send_all(urgent_fd, &index, sizeof index);
                atomic_fetch_add(&requests, 1);
            }
        }
    }
}

// The demo's workload (DemoChildren.swift, Workload).
static void *working(void *raw) {
    uint64_t state = ((uint64_t)(uintptr_t)raw + 1) * 0x9E3779B97F4A7C15ULL;
    size_t count = 0;
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        state += 0x9E3779B97F4A7C15ULL;
        uint64_t z = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z ^= z >> 31;
        volatile uint64_t *word = (volatile uint64_t *)(region + (z % pages) * PAGE);
        uint64_t value = *word;
        if ((z & 3) == 0) *word = value;
        count++;
    }
    atomic_fetch_add(&accesses, count);
    return NULL;
}

struct round_result { double seconds; size_t requests, accesses, faults; long wrong; };

static struct round_result run_destination(int ready, int threads) {
    uint8_t byte;
    if (!recv_all(ready, &byte, 1)) { errno = EPIPE; die("source not ready"); }
    atomic_store(&placed, 0); atomic_store(&zeroed, 0); atomic_store(&requests, 0);
    atomic_store(&accesses, 0); atomic_store(&workload_faults, 0); atomic_store(&stopping, 0);
    atomic_store(&finishing, 0);
    ring_filled = ring_emptied = 0;
    uint64_t start = now_ns();

    region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) die("mmap");
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) die("userfaultfd");
    struct uffdio_api api = { .api = UFFD_API };
    if (ioctl(uffd, UFFDIO_API, &api)) die("UFFDIO_API");
    struct uffdio_register reg = { .range = { (uint64_t)(uintptr_t)region, pages * PAGE }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg)) die("UFFDIO_REGISTER");
    send_all(urgent_fd, "g", 1);

    pthread_t bulk, urgent, zeros, faults, placer, workers[64];
    if (pthread_create(&bulk, NULL, receiving_bulk, NULL) || pthread_create(&urgent, NULL, receiving_urgent, NULL)
        || pthread_create(&zeros, NULL, zero_mapping, NULL) || pthread_create(&faults, NULL, handling_faults, NULL)
        || (placers && pthread_create(&placer, NULL, placing, NULL)))
        die("pthread_create");
    for (int t = 0; t < threads; t++)
        if (pthread_create(&workers[t], NULL, working, (void *)(uintptr_t)t)) die("pthread_create");

    pthread_mutex_lock(&done_lock);
    while (atomic_load(&placed) != data_pages || atomic_load(&zeroed) != free_pages)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    uint64_t end = now_ns();

    atomic_store(&stopping, 1);
    for (int t = 0; t < threads; t++) pthread_join(workers[t], NULL);
    eventfd_write(stop_fd, 1);
    pthread_join(faults, NULL);
    pthread_join(zeros, NULL);
    atomic_store(&finishing, 1);
    shutdown(urgent_fd, SHUT_RDWR);  // the source stops answering and exits
    shutdown(bulk_fd, SHUT_RDWR);
    pthread_join(urgent, NULL);
    pthread_join(bulk, NULL);
    if (placers) pthread_join(placer, NULL);

    long wrong = 0;
    static const uint8_t zero_page[PAGE];
    for (size_t page = 0; page < pages; page++) {
        const uint8_t *p = region + page * PAGE;
        if (page_free(page)) {
            if (memcmp(p, zero_page, PAGE)) wrong++;
        } else {
            static uint8_t expected[PAGE];
            memset(expected, (int)(page * 7 + 1) & 0xff, PAGE);
            memcpy(expected, &(uint64_t){ marker(page) }, 8);
            if (memcmp(p, expected, PAGE)) wrong++;
        }
    }
    close(uffd);
    munmap(region, pages * PAGE);
    eventfd_read(stop_fd, &(eventfd_t){ 0 });
    return (struct round_result){ (double)(end - start) / 1e9, atomic_load(&requests), atomic_load(&accesses),
                                  atomic_load(&workload_faults), wrong };
}

// ---- connections and rounds -------------------------------------------------------

static void tune(int fd, int urgent) {
    int one = 1;
    if (urgent) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int tcp_listener(struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t length = sizeof *address;
    *address = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || bind(fd, (struct sockaddr *)address, sizeof *address) || listen(fd, 2)
        || getsockname(fd, (struct sockaddr *)address, &length))
        die("tcp listener");
    return fd;
}

static int tcp_connect(const struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)address, sizeof *address)) die("connect");
    return fd;
}

int main(int argc, char **argv) {
    size_t size = 2UL << 30;
    double fraction = 0.5;
    uint64_t seed = 1;
    int threads = 4, rounds = 1, tcp = 1, populate = 0;
    static const char usage[] =
        "usage: migration-floor --size BYTES --free FRACTION [--threads N] [--seed N]\n"
        "                       [--transport tcp|unix] [--placers 0|1] [--rounds N] [--populate 0|1]\n"
        "The demo's migration in minimal C (see the comment at the top of main.c); one JSON object per round.\n";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(usage, stdout); return 0; }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size")) size = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--free")) fraction = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--placers")) placers = atoi(argv[i + 1]) != 0;
        else if (!strcmp(argv[i], "--transport")) tcp = strcmp(argv[i + 1], "unix") != 0;
        else if (!strcmp(argv[i], "--populate")) populate = atoi(argv[i + 1]) != 0;
        else { fprintf(stderr, "migration-floor: unknown option %s\n%s", argv[i], usage); return 64; }
    }
    if (argc % 2 == 0) { fprintf(stderr, "migration-floor: %s needs a value\n%s", argv[argc - 1], usage); return 64; }
    if (size < PAGE || size % PAGE || threads < 0 || threads > 64 || rounds < 1) {
        fprintf(stderr, "migration-floor: --size must be whole pages, --threads 0-64, --rounds at least 1\n");
        return 64;
    }
    pages = size / PAGE;
    lay_out(seed, fraction);
    requested = calloc(pages, 1);
    for (int r = 0; r < RING; r++)
        if (!(ring[r].data = aligned_alloc(PAGE, FRAME_PAGES * PAGE))) die("aligned_alloc");
    stop_fd = eventfd(0, EFD_CLOEXEC);
    if (!requested || stop_fd < 0) die("setup");

    for (int round = 0; round < rounds; round++) {
        double populate_seconds = 0;
        if (populate && data_pages > 0) {
            // floor_populate takes whole 256 KiB stream chunks: round up, scale back.
            size_t chunk = 64 * PAGE, bytes = (data_pages * PAGE + chunk - 1) / chunk * chunk;
            uint64_t ns = 0;
            int error = floor_populate(bytes, FLOOR_POPULATE_TOUCH, &ns);
            if (error) { errno = error; die("floor_populate"); }
            populate_seconds = (double)ns / 1e9 * (double)(data_pages * PAGE) / (double)bytes;
        }
        memset(requested, 0, pages);
        int ready[2], source_urgent, source_bulk;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ready)) die("socketpair");
        int listener = -1;
        struct sockaddr_in address;
        if (tcp) {
            listener = tcp_listener(&address);
            urgent_fd = tcp_connect(&address);
            source_urgent = accept(listener, NULL, NULL);
            bulk_fd = tcp_connect(&address);
            source_bulk = accept(listener, NULL, NULL);
            if (source_urgent < 0 || source_bulk < 0) die("accept");
            close(listener);
            tune(urgent_fd, 1);
            tune(source_urgent, 1);
        } else {
            int u[2], b[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b))
                die("socketpair");
            urgent_fd = u[0]; source_urgent = u[1];
            bulk_fd = b[0]; source_bulk = b[1];
        }
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child == 0) {
            close(urgent_fd); close(bulk_fd); close(ready[0]);
            run_source(source_urgent, source_bulk, ready[1]);
        }
        close(source_urgent); close(source_bulk); close(ready[1]);
        struct round_result result = run_destination(ready[0], threads);
        int status = -1;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        close(urgent_fd); close(bulk_fd); close(ready[0]);
        printf("{\"round\": %d, \"transport\": \"%s\", \"regionBytes\": %zu, \"free\": %g, \"threads\": %d, "
               "\"placers\": %d, \"seconds\": %.6f, \"dataBytes\": %zu, \"freePages\": %zu, \"requests\": %zu, "
               "\"workloadFaults\": %zu, \"accesses\": %zu, \"pagesWrong\": %ld, \"sourceStatus\": %d, "
               "\"populateSeconds\": %.6f}\n",
               round, tcp ? "tcp" : "unix", size, fraction, threads, placers, result.seconds, data_pages * PAGE,
               free_pages, result.requests, result.faults, result.accesses, result.wrong, status, populate_seconds);
        if (result.wrong || status) return 1;
    }
    return 0;
}
