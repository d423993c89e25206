// A process-wide lock, shared by every test module, for the tests that
// fork(): a fork raises a FORK event on each userfaultfd of the process that
// asked for EVENT_FORK, and waits until that event is read, so a fork must
// not run while such a userfaultfd exists without a reader.
#ifndef FORKLOCK_H
#define FORKLOCK_H
#include <pthread.h>

static pthread_mutex_t *ct_fork_lock(void) {
    // One mutex per process: a header-static would give one per module, so
    // the storage lives in shim.c.
    extern pthread_mutex_t ct_fork_mutex;
    return &ct_fork_mutex;
}
#endif
