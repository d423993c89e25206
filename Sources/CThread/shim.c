#define _GNU_SOURCE
#include "CThread.h"

#include <pthread.h>
#include <sched.h>

int cthread_set_affinity(const unsigned char *mask, size_t bytes) {
    return sched_setaffinity(0, bytes, (const cpu_set_t *)mask);
}

int cthread_get_affinity(unsigned char *mask, size_t bytes) {
    // The raw call returns the kernel's mask size on success; callers want
    // 0 or -1 like the other calls.
    return sched_getaffinity(0, bytes, (cpu_set_t *)mask) < 0 ? -1 : 0;
}

int cthread_set_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
