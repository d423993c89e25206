// CUserfaultfd: the parts of <linux/userfaultfd.h> Swift cannot import.
//
// Swift imports plain integer macros, but not ioctl request numbers built with
// _IOWR(..., sizeof(struct ...)), and it cannot call the variadic ioctl(2) or
// syscall(2). This header exposes those as constants and non-variadic inline
// functions. It also carries the uapi additions newer than Debian 12's 6.1
// headers (UFFDIO_MOVE, UFFDIO_POISON and their features) so the package builds
// there while running on a newer kernel. No logic lives here.
#ifndef CUSERFAULTFD_H
#define CUSERFAULTFD_H

#include <linux/userfaultfd.h>
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>  /* eventfd(2): stop signals polled beside a userfaultfd */
#include <sys/syscall.h>
#include <unistd.h>

// Features added after Linux 6.1 (values from the kernel uapi, stable ABI).
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13) /* 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14) /* 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15) /* 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16) /* 6.8 */
#endif

#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move; /* written by the kernel: bytes moved, or -errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#ifndef UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
struct uffdio_poison {
    struct uffdio_range range;
    __u64 mode;
    __s64 updated; /* written by the kernel: bytes poisoned, or -errno */
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

// ioctl request numbers, which Swift cannot evaluate from the _IOWR macros.
static const unsigned long CUFFD_IOC_API = UFFDIO_API;
static const unsigned long CUFFD_IOC_REGISTER = UFFDIO_REGISTER;
static const unsigned long CUFFD_IOC_UNREGISTER = UFFDIO_UNREGISTER;
static const unsigned long CUFFD_IOC_WAKE = UFFDIO_WAKE;
static const unsigned long CUFFD_IOC_COPY = UFFDIO_COPY;
static const unsigned long CUFFD_IOC_ZEROPAGE = UFFDIO_ZEROPAGE;
static const unsigned long CUFFD_IOC_WRITEPROTECT = UFFDIO_WRITEPROTECT;
static const unsigned long CUFFD_IOC_CONTINUE = UFFDIO_CONTINUE;
static const unsigned long CUFFD_IOC_MOVE = UFFDIO_MOVE;
static const unsigned long CUFFD_IOC_POISON = UFFDIO_POISON;
static const unsigned long CUFFD_DEV_IOC_NEW = USERFAULTFD_IOC_NEW;

// Bit numbers of the ioctls in uffdio_api.ioctls / uffdio_register.ioctls.
static const int CUFFD_BIT_REGISTER = _UFFDIO_REGISTER;
static const int CUFFD_BIT_UNREGISTER = _UFFDIO_UNREGISTER;
static const int CUFFD_BIT_API = _UFFDIO_API;
static const int CUFFD_BIT_WAKE = _UFFDIO_WAKE;
static const int CUFFD_BIT_COPY = _UFFDIO_COPY;
static const int CUFFD_BIT_ZEROPAGE = _UFFDIO_ZEROPAGE;
static const int CUFFD_BIT_MOVE = _UFFDIO_MOVE;
static const int CUFFD_BIT_WRITEPROTECT = _UFFDIO_WRITEPROTECT;
static const int CUFFD_BIT_CONTINUE = _UFFDIO_CONTINUE;
static const int CUFFD_BIT_POISON = _UFFDIO_POISON;

/// ioctl(2) with a pointer argument, callable from Swift.
static inline int cuffd_ioctl(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

/// ioctl(2) with an integer argument (USERFAULTFD_IOC_NEW takes the flags).
static inline int cuffd_ioctl_int(int fd, unsigned long request, unsigned long arg) {
    return ioctl(fd, request, arg);
}

/// userfaultfd(2); returns -1 with errno set (ENOSYS where the syscall is absent).
static inline int cuffd_userfaultfd(int flags) {
#ifdef SYS_userfaultfd
    return (int)syscall(SYS_userfaultfd, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/// memfd_create(2) through syscall(2), for glibc versions without the wrapper.
static inline int cuffd_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}

#endif
