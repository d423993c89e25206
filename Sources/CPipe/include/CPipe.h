#ifndef CPIPE_H
#define CPIPE_H

// Pipe calls Swift's Glibc module hides (_GNU_SOURCE) or cannot import
// (variadic fcntl). No logic lives here.

#include <stddef.h>
#include <sys/types.h>

/// pipe2(fds, O_CLOEXEC): 0 or -1.
int cpipe_open(int fds[2]);

/// fcntl(fd, F_SETPIPE_SZ, bytes): the pipe's new capacity, or -1.
int cpipe_set_size(int fd, int bytes);

/// vmsplice(fd, {base, length}, 1, 0): bytes moved into the pipe, or -1.
ssize_t cpipe_vmsplice(int fd, const void *base, size_t length);

/// splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0)).
ssize_t cpipe_splice(int from, int to, size_t length, int more);

/// Blocks SIGPIPE in the calling thread; the previous mask goes to *old
/// (a sigset_t, passed as bytes so Swift needs no layout). 0 or an errno.
int cpipe_block_sigpipe(void *old, size_t old_size);

/// Takes a pending SIGPIPE of the calling thread, if any, without waiting;
/// then restores the mask cpipe_block_sigpipe saved. 0 or an errno.
int cpipe_restore_sigpipe(const void *old, size_t old_size);

/// sizeof(sigset_t), for the buffer the two calls above take.
size_t cpipe_sigset_size(void);

#endif
