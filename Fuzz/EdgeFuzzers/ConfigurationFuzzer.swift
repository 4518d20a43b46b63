// libFuzzer entry point for the gateway configuration. Built by scripts/fuzz-edge.sh with
// `swiftc -sanitize=fuzzer,address` into a partial module made of GatewayConfiguration.swift,
// UpstreamConfiguration.swift, ResponseConfiguration.swift (with `StrictKeys`), RateLimiter.swift and
// `ToolClassification` (cut out of the file that declares it), over a partial `PortcullisCore`
// (JSONAny, ToolRecord, Monitoring).
//
// The whole input is a configuration file's `gateway` object, decoded with Foundation's JSONDecoder
// as the server does. Decoding must succeed or throw a `DecodingError`; an object that decodes must
// have no key its type does not know (at every level), must survive an encode/decode round trip, and
// must validate or fail with a `GatewayConfigurationError`. A trap, a hang or an address-sanitizer
// report is a bug.

import Foundation
import PortcullisCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ConfigurationProperties.check(Data(bytes: data, count: size))
    return 0
}

enum ConfigurationProperties {
    static func check(_ data: Data) {
        let configuration: GatewayConfiguration
        do {
            configuration = try JSONDecoder().decode(GatewayConfiguration.self, from: data)
        } catch {
            fuzzAssert(error is DecodingError, "decoding threw \(type(of: error)), not a DecodingError")
            fuzzAssert(!String(describing: error).isEmpty, "a decoding error without a description")
            return
        }
        if let tree = try? JSONDecoder().decode(KeyTree.self, from: data) {
            checkKeys(tree)
        }

        guard let encoded = try? JSONEncoder().encode(configuration) else { fuzzFail("a decoded configuration does not encode") }
        guard let again = try? JSONDecoder().decode(GatewayConfiguration.self, from: encoded) else {
            fuzzFail("an encoded configuration does not decode: \(String(decoding: encoded, as: UTF8.self))")
        }
        fuzzAssert(again == configuration, "an encode/decode round trip changed the configuration")

        do {
            try configuration.validate()
            var names = Set<String>()
            for upstream in configuration.upstreams {
                fuzzAssert(names.insert(upstream.name).inserted, "upstream \(upstream.name) validated twice")
                fuzzAssert((upstream.command == nil) != (upstream.url == nil), "an upstream with both or neither of command and url")
                fuzzAssert(upstream.name.utf8.allSatisfy { Array("abcdefghijklmnopqrstuvwxyz0123456789_-".utf8).contains($0) },
                           "upstream name \(upstream.name) validated")
            }
        } catch {
            fuzzAssert(!error.description.isEmpty, "a validation error without a description")
        }
        // The accessors the gateway reads at start-up.
        _ = configuration.effectiveMonitoring.effective
        _ = (configuration.effectiveMaxMessageBytes, configuration.effectiveRequiredScope, configuration.effectiveRateLimit)
        _ = configuration.effectiveApprovals.effectiveWaitSeconds
        for score in stride(from: -1, through: 101, by: 17) { _ = configuration.effectiveResponse.action(for: score) }
    }

    /// Where a JSON object sits in the configuration.
    enum Level: String, CaseIterable {
        case gateway, approvals, monitoring, response, responseRule, upstream, dlp, rateLimit, tool

        /// The keys its type reads: its stored properties' names, which its coding keys repeat
        /// (and which stay readable when the coding keys are private).
        var known: Set<String> {
            switch self {
            case .gateway: propertyNames(GatewayConfiguration())
            case .approvals: propertyNames(ApprovalSettings())
            case .monitoring: propertyNames(MonitoringSettings())
            case .response: propertyNames(ResponseSettings())
            case .responseRule: propertyNames(ResponseSettings.Rule(minScore: 1, action: .alert))
            case .upstream: propertyNames(UpstreamConfiguration(name: ""))
            case .dlp: propertyNames(GatewayConfiguration.DLP())
            case .rateLimit: propertyNames(RateLimit(perMinute: 1, burst: 1))
            case .tool: propertyNames(ToolClassification())
            }
        }
    }

    static let knownKeys = Dictionary(uniqueKeysWithValues: Level.allCases.map { ($0, $0.known) })

    static func checkKeys(_ tree: KeyTree) {
        visit(tree, as: .gateway)
        guard case .object(let root) = tree else { return }
        visit(root["approvals"], as: .approvals)
        visit(root["monitoring"], as: .monitoring)
        visit(root["response"], as: .response)
        visit(root["dlp"], as: .dlp)
        visit(root["rateLimit"], as: .rateLimit)
        visit(root["agentRateLimit"], as: .rateLimit)
        if case .object(let response)? = root["response"], case .array(let rules)? = response["rules"] {
            for rule in rules { visit(rule, as: .responseRule) }
        }
        if case .array(let upstreams)? = root["upstreams"] {
            for upstream in upstreams { visit(upstream, as: .upstream) }
        }
        if case .object(let limits)? = root["toolRateLimits"] {
            for limit in limits.values { visit(limit, as: .rateLimit) }
        }
        if case .object(let tools)? = root["tools"] {
            for tool in tools.values { visit(tool, as: .tool) }
        }
    }

    static func visit(_ tree: KeyTree?, as level: Level) {
        guard case .object(let members)? = tree else { return }
        let known = knownKeys[level] ?? []
        for key in members.keys where !known.contains(key) {
            fuzzFail("the \(level.rawValue) object accepted the unknown key \(key.debugDescription)")
        }
    }

    static func propertyNames(_ value: Any) -> Set<String> {
        Set(Mirror(reflecting: value).children.compactMap(\.label))
    }
}

/// Any JSON document, keeping only the object keys, read by the same decoder as the configuration.
indirect enum KeyTree: Decodable {
    case object([String: KeyTree])
    case array([KeyTree])
    case scalar

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [String: KeyTree] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(KeyTree.self, forKey: key) }
            self = .object(members)
        } else if var array = try? decoder.unkeyedContainer() {
            var items: [KeyTree] = []
            while !array.isAtEnd { items.append(try array.decode(KeyTree.self)) }
            self = .array(items)
        } else {
            self = .scalar
        }
    }
}

/// Stops the fuzzer when a property fails; libFuzzer keeps the input as a crash.
func fuzzAssert(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fuzzFail(message()) }
}

func fuzzFail(_ message: String) -> Never {
    fatalError("property violated: \(message)")
}
