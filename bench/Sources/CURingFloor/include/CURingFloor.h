// io_uring against plain syscalls for the bulk lane's receive side (issue 4
// asks for the comparison either way). Bench-only: the product does not link
// liburing unless this measures faster.
#ifndef CURINGFLOOR_H
#define CURINGFLOOR_H
#include <stddef.h>

/// A floor_link_receiver: keeps `*(int *)context` recv()s of `chunk` bytes in
/// flight on one io_uring (liburing; each into its own buffer), and re-queues
/// each as it completes, until `bytes` bytes have arrived. 0 or an errno.
int uring_link_receiver(int fd, size_t bytes, size_t chunk, void *context);

#endif
