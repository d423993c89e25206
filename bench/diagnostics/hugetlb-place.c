// Diagnostic, not part of the product or of `make bench`: what would placing
// into a hugetlbfs region cost, against the 4 KiB anonymous pages the library
// places today?
//
// Each round maps a fresh region of SIZE_MIB, registers it with userfaultfd
// (MISSING) and fills it with UFFDIO_COPY from a warm buffer: 64 pages of
// 4 KiB per ioctl (the populate floor's "UFFDIO_COPY x64"), or one 2 MiB
// hugetlb page per ioctl. Prints GiB/s and CPU-s/GiB (RUSAGE_SELF) per round.
// Needs SIZE_MIB / 2 free huge pages:
//
//   echo 600 > /proc/sys/vm/nr_hugepages
//   gcc -O2 -o /tmp/hugetlb-place bench/diagnostics/hugetlb-place.c
//   /tmp/hugetlb-place 1024 5
//   echo 0 > /proc/sys/vm/nr_hugepages
//
// Results: bench/RESULTS.md, "Huge pages: the placement floor".
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(void) {
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) { perror(what); exit(1); }

static void place(int huge, size_t length, const uint8_t *source, double *gibps, double *cpus) {
    size_t unit = huge ? (2u << 20) : 64 * 4096;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0);
    uint8_t *region = mmap(NULL, length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (region == MAP_FAILED) die("mmap");
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0) die("userfaultfd");
    struct uffdio_api api = { .api = UFFD_API };
    if (ioctl(uffd, UFFDIO_API, &api)) die("UFFDIO_API");
    struct uffdio_register reg = { .range = { (uintptr_t)region, length }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg)) die("UFFDIO_REGISTER");
    double t0 = now(), c0 = cpu();
    for (size_t off = 0; off < length; off += unit) {
        struct uffdio_copy copy = { .dst = (uintptr_t)region + off, .src = (uintptr_t)source, .len = unit };
        if (ioctl(uffd, UFFDIO_COPY, &copy) || copy.copy != (int64_t)unit) die("UFFDIO_COPY");
    }
    double t1 = now(), c1 = cpu();
    double gib = length / (double)(1u << 30);
    *gibps = gib / (t1 - t0);
    *cpus = (c1 - c0) / gib;
    if (region[length - 1] != source[unit - 1]) { fprintf(stderr, "wrong byte\n"); exit(1); }
    close(uffd);
    munmap(region, length);
}

int main(int argc, char **argv) {
    size_t length = (size_t)(argc > 1 ? atoi(argv[1]) : 1024) << 20;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    uint8_t *source = aligned_alloc(2u << 20, 2u << 20);
    for (size_t i = 0; i < (2u << 20); i++) source[i] = (uint8_t)(i * 31 + 7);
    for (int round = 0; round < rounds; round++) {
        for (int huge = 0; huge <= 1; huge++) {
            double gibps, cpus;
            place(huge, length, source, &gibps, &cpus);
            printf("round %d %-28s %6.2f GiB/s %5.3f CPU-s/GiB\n", round + 1,
                   huge ? "2 MiB hugetlb, 1 per ioctl" : "4 KiB anonymous, 64 per ioctl", gibps, cpus);
            fflush(stdout);
        }
    }
    return 0;
}
