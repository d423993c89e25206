// GNU extensions the tests call that Swift's Glibc module does not export,
// and descriptor passing over Unix sockets for the tests' helper processes.
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

static inline void *ct_mremap_fixed(void *old, size_t length, void *target) {
    return mremap(old, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, target);
}
static inline int ct_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
static inline int ct_gettid(void) { return (int)syscall(SYS_gettid); }
static inline int ct_timedjoin(pthread_t thread, const struct timespec *deadline) {
    return pthread_timedjoin_np(thread, NULL, deadline);
}

// pipe2(fds, O_CLOEXEC): 0, or -1 with errno.
int ct_pipe_cloexec(int fds[2]);

// Sends one message on a Unix socket: `length` bytes and, as SCM_RIGHTS, the
// descriptor `fd` (how a monitor process is handed a userfaultfd).
// 0, or -1 with errno.
int ct_send_descriptor(int socket, int fd, const void *data, size_t length);

// Receives one such message: its bytes (at most `length`) and the descriptor
// it carried (O_CLOEXEC), or -1 in *fd when it carried none.
// The byte count, or -1 with errno.
ssize_t ct_receive_descriptor(int socket, void *data, size_t length, int *fd);
#endif
