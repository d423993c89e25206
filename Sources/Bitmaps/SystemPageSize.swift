import Glibc

/// The kernel's page size, from `sysconf(_SC_PAGESIZE)`.
let systemPageSize: Int = {
    let size = sysconf(Int32(_SC_PAGESIZE))
    precondition(size > 0 && size.nonzeroBitCount == 1, "sysconf(_SC_PAGESIZE) returned \(size)")
    return size
}()
