#define _GNU_SOURCE
#include "CSched.h"

#include <sched.h>

int csched_set_affinity(const unsigned char *mask, size_t bytes) {
    return sched_setaffinity(0, bytes, (const cpu_set_t *)mask);
}

int csched_get_affinity(unsigned char *mask, size_t bytes) {
    // The glibc wrapper returns the kernel's byte count on success; callers
    // want 0 or -1 like the other calls.
    return sched_getaffinity(0, bytes, (cpu_set_t *)mask) < 0 ? -1 : 0;
}
