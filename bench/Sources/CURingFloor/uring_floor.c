#include "CURingFloor.h"

#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>

/// Queues a recv into `slot`'s buffer for at most `chunk` of what is neither
/// received nor already asked for; returns the bytes asked for (0: nothing left).
static size_t queue_recv(struct io_uring *ring, int fd, uint8_t *buffers, size_t chunk, int slot,
                         size_t bytes, size_t received, size_t requested, size_t *wants) {
    size_t left = bytes - received - requested;
    if (left == 0) return 0;
    size_t want = left < chunk ? left : chunk;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);  // never NULL: the ring has 2 x depth entries
    io_uring_prep_recv(sqe, fd, buffers + (size_t)slot * chunk, want, 0);
    io_uring_sqe_set_data64(sqe, (uint64_t)slot);
    wants[slot] = want;
    return want;
}

int uring_link_receiver(int fd, size_t bytes, size_t chunk, void *context) {
    int depth = context ? *(int *)context : 1;
    if (depth < 1 || depth > 64) return EINVAL;
    struct io_uring ring;
    int error = -io_uring_queue_init((unsigned)depth * 2, &ring, 0);
    if (error) return error;
    uint8_t *buffers = malloc(chunk * (size_t)depth);
    size_t wants[64] = {0};
    if (!buffers) {
        io_uring_queue_exit(&ring);
        return ENOMEM;
    }
    // requested: bytes asked for by recvs in flight. Never ask for more than
    // remains, so the sender's close ends the run cleanly; a short recv leaves
    // its shortfall to be asked for again.
    size_t received = 0, requested = 0;
    for (int slot = 0; slot < depth; slot++) {
        requested += queue_recv(&ring, fd, buffers, chunk, slot, bytes, received, requested, wants);
    }
    while (!error && received < bytes) {
        int submitted = io_uring_submit_and_wait(&ring, 1);
        if (submitted < 0) {
            if (submitted != -EINTR) error = -submitted;
            continue;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int slot = (int)io_uring_cqe_get_data64(cqe);
            requested -= wants[slot];
            wants[slot] = 0;
            if (cqe->res <= 0) {
                if (!error) error = cqe->res < 0 ? -cqe->res : EPIPE;
                continue;
            }
            received += (size_t)cqe->res;
            if (!error) requested += queue_recv(&ring, fd, buffers, chunk, slot, bytes, received, requested, wants);
        }
        io_uring_cq_advance(&ring, seen);
    }
    // Recvs still in flight after an error are cancelled by queue_exit.
    io_uring_queue_exit(&ring);
    free(buffers);
    return error;
}
