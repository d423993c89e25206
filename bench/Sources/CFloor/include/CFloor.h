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

#endif
