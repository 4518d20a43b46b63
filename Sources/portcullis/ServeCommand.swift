import ArgumentParser
import Foundation
import Logging
import PortcullisCore
import PortcullisServer
import PortcullisStorePostgres

/// Options shared by `serve` and `config show`: where the configuration comes from.
struct ServerOptions: ParsableArguments {
    @Option(help: "Data directory (database, signing key, admin token). Default ./portcullis-data.")
    var dataDir: String?
    @Option(help: "Address to listen on, HOST:PORT. Default 127.0.0.1:8640.")
    var listen: String?
    @Option(help: "JSON configuration file.")
    var config: String?

    func effectiveConfiguration() throws -> ServerConfiguration {
        var c = try ServerConfiguration.load(file: config, environment: ProcessInfo.processInfo.environment)
        if let dataDir { c.dataDirectory = dataDir }
        if let listen { try c.setListen(listen) }
        try c.validate()
        return c
    }
}

/// `portcullis serve`: the control plane with its embedded SQLite store.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run Portcullis (embedded SQLite store in the data directory).")

    @OptionGroup var options: ServerOptions
    @Flag(help: "Also run a demo tool server and a demo agent that calls it (allowed, denied and pending calls in the console).")
    var demo = false

    func run() async throws {
        var config: ServerConfiguration
        let services: PortcullisApplication.Services
        do {
            config = try options.effectiveConfiguration()
            if demo {
                config.enableDemo()
                try config.validate()
            }
            // Before any logger exists: every log line of the node is then one JSON object.
            if config.observability.logFormat == "json" { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
            services = try await PortcullisApplication.open(configuration: config)
        } catch {
            // A configuration or data-directory problem, not a usage error: no usage text.
            FileHandle.standardError.write(Data("portcullis: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var logger = Logger(label: "portcullis")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        logger.info("portcullis serving", metadata: [
            "listen": "\(config.host):\(config.port)", "issuer": "\(config.effectiveIssuer)",
            "data_dir": "\(config.dataDirectory)", "admin_token_file": "\(DataDirectory(path: config.dataDirectory).adminTokenPath)",
        ])
        // The console, and a one-time link that signs in whoever holds this terminal (15 minutes, one use).
        if let link = try? services.console.signInLink(name: ConsoleState.operatorName, role: .administrator) {
            logger.info("console: \(config.effectiveIssuer)/console (one-time sign-in link: \(link))")
        }
        // Graceful shutdown on SIGINT and SIGTERM (ServiceLifecycle).
        try await PortcullisApplication.run(services, logger: logger)
    }
}

/// `portcullis config show`: the effective configuration, secrets masked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective configuration (secrets masked).")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let c: ServerConfiguration
            do {
                c = try options.effectiveConfiguration()
            } catch {
                FileHandle.standardError.write(Data("portcullis: \(error)\n".utf8))
                throw ExitCode(1)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(c)) as? [String: Any] ?? [:]
            Self.maskUpstreamSecrets(&object)
            // A password in the PostgreSQL URL is a secret too.
            if let postgres = c.store?.postgres, var store = object["store"] as? [String: Any],
               var pg = store["postgres"] as? [String: Any],
               let settings = try? PostgresSettings(url: postgres.url, passwordFile: nil) {
                pg["url"] = settings.redacted + (settings.password == nil ? "" : " (password ********)")
                store["postgres"] = pg
                object["store"] = store
            }
            object["effectiveIssuer"] = c.effectiveIssuer
            object["adminToken"] = "******** (secret; stored in \(DataDirectory(path: c.dataDirectory).adminTokenPath))"
            object["signingKey"] = "******** (secret; stored in \(DataDirectory(path: c.dataDirectory).signingKeyPath))"
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }

        /// Upstream headers (the gateway's credentials for them) and stdio environment values are
        /// secrets: their names are shown, their values are not.
        static func maskUpstreamSecrets(_ object: inout [String: Any]) {
            guard var gateway = object["gateway"] as? [String: Any],
                  let upstreams = gateway["upstreams"] as? [[String: Any]] else { return }
            gateway["upstreams"] = upstreams.map { u -> [String: Any] in
                var u = u
                for key in ["headers", "env"] {
                    if let values = u[key] as? [String: Any] {
                        u[key] = Dictionary(uniqueKeysWithValues: values.keys.map { ($0, "********") })
                    }
                }
                return u
            }
            object["gateway"] = gateway
        }
    }
}
