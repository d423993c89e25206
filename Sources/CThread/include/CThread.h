#ifndef CTHREAD_H
#define CTHREAD_H

// The calling thread's CPU affinity and name: calls glibc declares only under
// _GNU_SOURCE, which Swift's Glibc module does not see. Masks are plain bytes
// (CPU n is bit n % 8 of byte n / 8), so Swift needs neither cpu_set_t nor
// the CPU_SET macros.

#include <stddef.h>

/// `sched_setaffinity(0, bytes, mask)`: 0, or -1 with errno set.
int cthread_set_affinity(const unsigned char *mask, size_t bytes);

/// `sched_getaffinity(0, bytes, mask)`: 0, or -1 with errno set.
int cthread_get_affinity(unsigned char *mask, size_t bytes);

/// `pthread_setname_np(pthread_self(), name)`: 0 or an errno. The kernel
/// keeps 15 bytes; longer names fail with ERANGE.
int cthread_set_name(const char *name);

#endif
