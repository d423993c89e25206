// Minimal C baselines ("floors") for the benchmarks: the least a C program
// must do for the same job, measured in the same run as the Swift code.
#ifndef CFLOOR_H
#define CFLOOR_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum floor_fault_kind { FLOOR_ZEROPAGE = 0, FLOOR_COPY = 1 };

/// userfaultfd(O_CLOEXEC) (blocking) and UFFDIO_API with no features; -1 on error.
int floor_uffd_open(void);
/// UFFDIO_REGISTER_MODE_MISSING over [base, base+length); 0 or -1.
int floor_uffd_register(int uffd, void *base, size_t length);

/// Starts the minimal handler thread: blocking read() of up to 16 messages,
/// then one UFFDIO_ZEROPAGE or UFFDIO_COPY (from `source`) per fault; returns
/// after serving `faults` faults. 0 or an errno.
int floor_handler_start(pthread_t *thread, int uffd, int kind, const void *source, size_t page_size, size_t faults);
/// Joins the handler; returns the number of faults it served (or -1 on error).
long floor_handler_join(pthread_t thread);

/// Reads one byte of each of `pages` pages in order, writing to `ns[i]` the
/// nanoseconds page i took (CLOCK_MONOTONIC). Returns the sum of bytes read.
uint64_t floor_touch(const volatile uint8_t *base, size_t pages, size_t page_size, uint64_t *ns);

/// The memory-read floor: ORs every 64-bit word of [p, p+length).
uint64_t floor_or_reduce(const void *p, size_t length);

/// floor_touch in the order given: touch i reads one byte of page order[i]
/// and writes its nanoseconds to ns[i]. Returns the sum of bytes read.
uint64_t floor_touch_order(const volatile uint8_t *base, const uint32_t *order, size_t pages, size_t page_size,
                           uint64_t *ns);

// MARK: Floors for remote faults, populating and the link (issue 4)
//
// Every function below returns 0 or an errno: the first error any of its
// syscalls (or threads) met. EPIPE: a peer closed mid-run; EPROTO: a peer sent
// something out of protocol; EBADMSG: the memory did not hold what was sent.

enum floor_transport { FLOOR_UNIX = 0, FLOOR_TCP = 1 };

/// Pages per chunk of the background stream (64 x 4 KiB = 256 KiB).
#define FLOOR_STREAM_CHUNK_PAGES 64
/// SO_SNDBUF / SO_RCVBUF of bulk sockets, as the product's bulk lane asks.
#define FLOOR_BULK_SOCKET_BUFFER (256 << 10)

struct floor_remote_stats {
    /// Faults the handler served (the stop page not counted).
    uint64_t faults;
    /// Of which the stream had placed the page before the reply did (EEXIST).
    uint64_t faults_present;
    /// Pages the stream carried (every page: 0 without a stream).
    uint64_t stream_pages;
    /// Of which were already present when they arrived (faulted in first).
    uint64_t stream_present;
    /// The streamer's first send to the receiver's last placement.
    uint64_t stream_ns;
    /// The whole touching loop.
    uint64_t touch_ns;
};

/// Remote-fault floor. A fresh region of `pages` pages (plus a stop page)
/// registered MISSING; a source thread owns one end of a connected socket
/// (`transport`: a Unix socketpair, or TCP over 127.0.0.1 with TCP_NODELAY)
/// and answers each 8-byte request (a page index) with the page's 4 KiB; the
/// handler thread blocks in read() on the uffd, sends the request, reads the
/// reply fully and UFFDIO_COPYs it. The calling thread touches every page
/// once: in order if `order` is NULL, else page order[i] at touch i (a
/// permutation of 0..<pages); ns[i] gets touch i's nanoseconds.
///
/// If `stream` is nonzero, a second socket pair (256 KiB buffers) carries every
/// page once more, in order, in FLOOR_STREAM_CHUNK_PAGES-page chunks sent as
/// fast as the socket takes them; a receiver thread places each chunk with
/// UFFDIO_COPY, skipping pages already present. Touches of pages the stream
/// placed first do not fault: faulted[p] is 1 for exactly the pages the
/// handler got a fault for, so the caller can keep the faulting touches.
///
/// `stream_cpus`, if not NULL, is a CPU mask of `stream_cpus_bytes` bytes
/// (CPU n is bit n % 8 of byte n / 8) that the streamer and receiver threads
/// confine themselves to, as the library's `streamCPUs` does its own.
///
/// At the end every page must hold the source's bytes (else EBADMSG).
/// Needs `pages` * 4 KiB twice (source copy and region). 0 or an errno.
int floor_remote_faults(int transport, int stream, size_t pages, const uint32_t *order, uint64_t *ns,
                        uint8_t *faulted, const uint8_t *stream_cpus, size_t stream_cpus_bytes,
                        struct floor_remote_stats *stats);

enum floor_populate_mode {
    /// Write one byte to each page.
    FLOOR_POPULATE_TOUCH = 0,
    /// memset the whole region.
    FLOOR_POPULATE_MEMSET = 1,
    /// Register MISSING and UFFDIO_COPY FLOOR_STREAM_CHUNK_PAGES pages per ioctl
    /// from one buffer: the placement step of the stream receiver.
    FLOOR_POPULATE_UFFD_COPY = 2,
};

/// Populate floor: maps a fresh private anonymous region of `bytes` (a
/// multiple of 256 KiB), 4 KiB pages (MADV_NOHUGEPAGE), and populates it
/// as `mode` says; `elapsed_ns` gets the time of that step alone (not mmap,
/// register or munmap). 0 or an errno.
int floor_populate(size_t bytes, int mode, uint64_t *elapsed_ns);

/// Link floor: a sender thread send()s `bytes` bytes in `chunk`-byte calls
/// over a connected pair (`transport`; SO_SNDBUF and SO_RCVBUF of
/// `socket_buffer` bytes on both ends if > 0, else the kernel's defaults);
/// the calling thread read()s up to `chunk` bytes at a time until all have
/// arrived. `elapsed_ns`: from the first send to the last byte read.
/// 0 or an errno.
int floor_link(int transport, size_t bytes, size_t chunk, int socket_buffer, uint64_t *elapsed_ns);

/// How floor_link_receiving's calling thread reads: `bytes` bytes from the
/// connected socket `fd`, at most `chunk` per buffer; 0 or an errno (EPIPE if
/// the stream ended early).
typedef int (*floor_link_receiver)(int fd, size_t bytes, size_t chunk, void *context);

/// floor_link with another receiver (e.g. io_uring, in bench/); the sender
/// and the timing are the same. floor_link is this with a read() loop.
int floor_link_receiving(int transport, size_t bytes, size_t chunk, int socket_buffer,
                         floor_link_receiver receiver, void *context, uint64_t *elapsed_ns);

#endif
