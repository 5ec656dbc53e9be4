import Logging

/// What every connection handler shares: the online directory, the database, the configuration and the
/// count of connections not registered yet. A class,
/// so that each connection holds one reference rather than its own copy of all of it.
final class RelayServices: Sendable {
    let relay: Relay
    let database: ServerDatabase
    let configuration: ServerConfiguration
    let logger: Logger
    let pending: PendingConnectionLimit
    let databaseTasks = DatabaseTasks()

    init(relay: Relay, database: ServerDatabase, configuration: ServerConfiguration, logger: Logger) {
        self.relay = relay
        self.database = database
        self.configuration = configuration
        self.logger = logger
        pending = PendingConnectionLimit(limit: configuration.maxPendingPerAddress, logger: logger)
    }
}
