import Foundation

/// The server's data folder (its key and database): made with mode 0700 on first start, checked on every start.
enum ServerDataFolder {
    /// The folder at `path`, created (mode 0700) if missing; throws when it cannot be, or is not a folder this user
    /// may read and write.
    static func prepare(_ path: String) throws(ServerStartError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .dataFolder(path: path, reason: "a file of that name is in the way") }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .dataFolder(path: path, reason: "it cannot be created (\(systemReason(error)))")
            }
        }
        guard access(path, R_OK | W_OK | X_OK) == 0 else { throw .dataFolder(path: path, reason: "this user may not read and write it") }
    }

    /// The operating system's words for a Foundation file error, where it carries them.
    private static func systemReason(_ error: any Error) -> String {
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error,
           case let posix = underlying as NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code))).lowercased()
        }
        return error.localizedDescription
    }
}
