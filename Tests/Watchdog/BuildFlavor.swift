/// How the tests were built, for the few that cannot run under a sanitizer.
public enum BuildFlavor {
    /// Built by `make tsan` (`-sanitize=thread -D POSTCOPY_TSAN`).
#if POSTCOPY_TSAN
    public static let threadSanitizer = true
#else
    public static let threadSanitizer = false
#endif
}
