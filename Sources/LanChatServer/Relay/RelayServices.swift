import Logging

/// What every connection handler shares: the online directory, the database and the configuration.
struct RelayServices: Sendable {
    let relay: Relay
    let database: ServerDatabase
    let configuration: ServerConfiguration
    let logger: Logger
}
