// CPagemap: the PAGEMAP_SCAN ioctl (Linux 6.7) on /proc/PID/pagemap, which
// Debian 12's 6.1 headers lack, and the classic pagemap entry bits.
// Swift cannot evaluate the _IOWR request number; it is exposed as a constant.
// No logic lives here.
#ifndef CPAGEMAP_H
#define CPAGEMAP_H

#include <linux/fs.h>
#include <linux/types.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};
#endif

static const unsigned long CPAGEMAP_IOC_SCAN = PAGEMAP_SCAN;

// Classic /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
static const unsigned long long CPAGEMAP_ENTRY_PRESENT = 1ULL << 63;
static const unsigned long long CPAGEMAP_ENTRY_SWAPPED = 1ULL << 62;
static const unsigned long long CPAGEMAP_ENTRY_FILE_OR_SHARED = 1ULL << 61;

/// ioctl(2) with a pointer argument, callable from Swift.
static inline int cpagemap_ioctl(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

#endif
