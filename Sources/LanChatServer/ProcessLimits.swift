#if canImport(Glibc)
import CGlibcMalloc
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Limits and allocator settings of the running process.
public enum ProcessLimits {
    /// Keeps freed heap memory (up to 128 MiB at the top of an arena) for reuse instead of handing it back to the
    /// kernel after every burst, and serves blocks below 4 MiB (the relay's 1 MiB reads among them) from the heap
    /// rather than from fresh mappings. The relay allocates and frees an output buffer per busy connection per
    /// event-loop tick; with glibc's default thresholds the heap was trimmed and page-faulted back in every tick
    /// (about 10 % of the server's CPU time in the fan-out benchmark), and with 32 MiB it still was at 1,000
    /// receivers, whose output buffers of one tick reserve more than that (15 %, 100,000 page faults a second).
    /// What is kept is handed back when the server goes quiet (`releaseFreeMemory`).
    public static func keepFreedMemoryForReuse() {
        #if canImport(Glibc)
        lanchat_set_malloc_thresholds(128 << 20, 4 << 20)
        #endif
    }

    /// Hands free heap memory back to the kernel (glibc's `malloc_trim`): for a loop that has gone quiet after
    /// a burst, since `keepFreedMemoryForReuse` keeps up to 128 MiB per arena otherwise.
    static func releaseFreeMemory() {
        #if canImport(Glibc)
        lanchat_release_free_memory()
        #endif
    }

    /// Raises the open-file limit to its hard limit: every client is a socket.
    /// - Returns: the limit now in force.
    @discardableResult
    public static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(openFiles, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(openFiles, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    /// How many descriptors the process may have open, if the system says.
    static var openFileLimit: UInt64? {
        var limit = rlimit()
        return getrlimit(openFiles, &limit) == 0 ? UInt64(limit.rlim_cur) : nil
    }

    #if canImport(Glibc)
    private static let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let openFiles = RLIMIT_NOFILE
    #endif
}
