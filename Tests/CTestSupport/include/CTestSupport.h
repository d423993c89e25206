// GNU extensions the tests call that Swift's Glibc module does not export.
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "ForkLock.h"

static inline void *ct_mremap_fixed(void *old, size_t length, void *target) {
    return mremap(old, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, target);
}
static inline int ct_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
static inline int ct_gettid(void) { return (int)syscall(SYS_gettid); }
static inline int ct_timedjoin(pthread_t thread, const struct timespec *deadline) {
    return pthread_timedjoin_np(thread, NULL, deadline);
}
#endif
