#define _GNU_SOURCE
#include "CPipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int cpipe_open(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int cpipe_set_size(int fd, int bytes) {
    return fcntl(fd, F_SETPIPE_SZ, bytes);
}

ssize_t cpipe_vmsplice(int fd, const void *base, size_t length) {
    struct iovec vector = { (void *)base, length };
    return vmsplice(fd, &vector, 1, 0);
}

ssize_t cpipe_splice(int from, int to, size_t length, int more) {
    return splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
}

size_t cpipe_sigset_size(void) {
    return sizeof(sigset_t);
}

int cpipe_block_sigpipe(void *old, size_t old_size) {
    if (old_size < sizeof(sigset_t)) return EINVAL;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    return pthread_sigmask(SIG_BLOCK, &block, (sigset_t *)old);
}

int cpipe_restore_sigpipe(const void *old, size_t old_size) {
    if (old_size < sizeof(sigset_t)) return EINVAL;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec now = { 0, 0 };
    // A SIGPIPE the splice raised is pending on this thread: take it, so
    // restoring the mask does not deliver it.
    while (sigtimedwait(&pipe_only, NULL, &now) == SIGPIPE) {}
    return pthread_sigmask(SIG_SETMASK, (const sigset_t *)old, NULL);
}
