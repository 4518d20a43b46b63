import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces a small file atomically and durably: write a fresh temporary file with its final mode,
/// fsync it, rename it over the target, fsync the directory. A reader sees the old file or the new
/// one, never a torn or world-readable one; a crash loses at most the change in progress.
public enum DurableFile {
    /// - Parameter mode: set on the temporary file before anything is written (0600 for secrets).
    /// - Throws: ``PortcullisError`` `.storage` naming the file and the system's reason.
    public static func replace(_ path: String, with contents: String, mode: UInt32 = 0o644) throws(PortcullisError) {
        let temporary = path + ".tmp"
        // A leftover temporary file (a crash, or someone else's) is not reused: its mode is not ours.
        _ = unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw failure("cannot create", temporary) }
        guard fchmod(fd, mode_t(mode)) == 0 else {
            close(fd)
            throw failure("cannot set the mode of", temporary)
        }
        let bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                throw failure("cannot write", temporary)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw failure("cannot sync", temporary)
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw failure("cannot replace", path) }
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    private static func failure(_ what: String, _ path: String) -> PortcullisError {
        PortcullisError(.storage, "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
