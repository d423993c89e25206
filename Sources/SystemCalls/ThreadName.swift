import CThread

/// The name of the calling thread, as `top -H`, `ps -L` and /proc show it.
public enum ThreadName {
    /// Names the calling thread (`pthread_setname_np(3)`), cut to the 15
    /// bytes the kernel keeps (at a character boundary).
    ///
    /// Naming is for people reading process listings; a failure (there is
    /// none for a name that fits) is ignored rather than failing the thread.
    public static func setCurrent(_ name: String) {
        var name = Substring(name)
        while name.utf8.count > 15 { name.removeLast() }
        _ = cthread_set_name(String(name))
    }
}
