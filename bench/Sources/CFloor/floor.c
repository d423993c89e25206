#define _GNU_SOURCE
#include "CFloor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int floor_uffd_open(void) {
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0) return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        close(uffd);
        return -1;
    }
    return uffd;
}

int floor_uffd_register(int uffd, void *base, size_t length) {
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)base, .len = length},
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

struct handler_args {
    int uffd, kind;
    const void *source;
    size_t page_size, faults;
};

static void *handler_main(void *raw) {
    struct handler_args args = *(struct handler_args *)raw;
    free(raw);
    struct uffd_msg messages[16];
    long served = 0;
    while ((size_t)served < args.faults) {
        ssize_t bytes = read(args.uffd, messages, sizeof messages);
        if (bytes < 0) {
            if (errno == EINTR) continue;
            return (void *)-1L;
        }
        for (ssize_t i = 0; i < bytes / (ssize_t)sizeof(struct uffd_msg); i++) {
            if (messages[i].event != UFFD_EVENT_PAGEFAULT) continue;
            unsigned long address = messages[i].arg.pagefault.address & ~(args.page_size - 1);
            if (args.kind == FLOOR_ZEROPAGE) {
                struct uffdio_zeropage zero = {.range = {.start = address, .len = args.page_size}};
                if (ioctl(args.uffd, UFFDIO_ZEROPAGE, &zero) != 0 && errno != EEXIST) return (void *)-1L;
            } else {
                struct uffdio_copy copy = {.dst = address, .src = (uintptr_t)args.source, .len = args.page_size};
                if (ioctl(args.uffd, UFFDIO_COPY, &copy) != 0 && errno != EEXIST) return (void *)-1L;
            }
            served++;
        }
    }
    return (void *)served;
}

int floor_handler_start(pthread_t *thread, int uffd, int kind, const void *source, size_t page_size, size_t faults) {
    struct handler_args *args = malloc(sizeof *args);
    if (!args) return ENOMEM;
    *args = (struct handler_args){uffd, kind, source, page_size, faults};
    int result = pthread_create(thread, NULL, handler_main, args);
    if (result != 0) free(args);
    return result;
}

long floor_handler_join(pthread_t thread) {
    void *served = NULL;
    if (pthread_join(thread, &served) != 0) return -1;
    return (long)served;
}

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t floor_touch(const volatile uint8_t *base, size_t pages, size_t page_size, uint64_t *ns) {
    uint64_t sum = 0;
    for (size_t i = 0; i < pages; i++) {
        uint64_t start = now_ns();
        sum += base[i * page_size];
        ns[i] = now_ns() - start;
    }
    return sum;
}

uint64_t floor_or_reduce(const void *p, size_t length) {
    const uint64_t *words = p;
    uint64_t acc[8] = {0};
    size_t count = length / 8, i = 0;
    for (; i + 8 <= count; i += 8)
        for (int k = 0; k < 8; k++) acc[k] |= words[i + k];
    for (; i < count; i++) acc[0] |= words[i];
    return acc[0] | acc[1] | acc[2] | acc[3] | acc[4] | acc[5] | acc[6] | acc[7];
}
