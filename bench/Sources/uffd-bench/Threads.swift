#if canImport(Glibc)
import Glibc
#endif

/// A joinable POSIX thread running a Swift closure.
struct JoinableThread: ~Copyable {
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create: \(result)")
    }

    consuming func join() {
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join: \(result)")
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
