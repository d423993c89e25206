#ifndef CSCHED_H
#define CSCHED_H

#include <stddef.h>

/// The calling thread's CPU affinity, with the mask as plain bytes (CPU n is
/// bit n % 8 of byte n / 8), so Swift needs neither `cpu_set_t` nor the
/// `CPU_SET` macros, which glibc shows only under `_GNU_SOURCE`.

/// `sched_setaffinity(0, bytes, mask)`: 0, or -1 with errno set.
int csched_set_affinity(const unsigned char *mask, size_t bytes);

/// `sched_getaffinity(0, bytes, mask)`: 0, or -1 with errno set.
int csched_get_affinity(unsigned char *mask, size_t bytes);

#endif
