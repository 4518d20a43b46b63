import Foundation
import Logging
import Synchronization
import Testing
@testable import PortcullisServer

@Suite("Structured logs and the observability settings")
struct ObservabilityTests {
    @Test("a JSON log line holds time, level, label, message and the metadata, one object per line")
    func jsonLines() throws {
        let written = Mutex<[Data]>([])
        var logger = Logger(label: "portcullis.test") { JSONLogHandler(label: $0) { data in written.withLock { $0.append(data) } } }
        logger[metadataKey: "node"] = "n1"
        logger.warning("alert \"quoted\"\nsecond line", metadata: ["agent": "agt_1", "ids": ["a", "b"]])
        logger.debug("below the level")
        let lines = written.withLock { $0 }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.last == 0x0A && line.dropLast().contains(0x0A) == false)
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        #expect(object["level"] as? String == "warning" && object["label"] as? String == "portcullis.test")
        #expect(object["message"] as? String == "alert \"quoted\"\nsecond line")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["node"] as? String == "n1" && metadata["agent"] as? String == "agt_1")
        #expect(metadata["ids"] as? [String] == ["a", "b"])
        let time = try #require(object["time"] as? String)
        #expect(time.hasSuffix("Z") && (try? Date(time, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) != nil, "\(time)")
    }

    @Test("observability settings are read strictly and validated")
    func settings() throws {
        func load(_ json: String) throws -> ServerConfiguration {
            let config = try ConfigurationFile.decode(Data(json.utf8))
            try config.validate()
            return config
        }
        let ok = try load(#"{"observability":{"logFormat":"json","traces":{"otlpEndpoint":"http://127.0.0.1:4318/v1/traces","sampleRatio":0.5}}}"#)
        #expect(ok.observability.logFormat == "json" && ok.observability.traces?.sampleRatio == 0.5)
        for (bad, fragment) in [
            (#"{"observability":{"logFormat":"xml"}}"#, "logFormat"),
            (#"{"observability":{"traces":{"otlpEndpoint":"ftp://x/v1/traces"}}}"#, "otlpEndpoint"),
            (#"{"observability":{"traces":{"otlpEndpoint":"http://x","sampleRatio":2}}}"#, "sampleRatio"),
            (#"{"observability":{"traces":{"otlpEndpoint":"http://x","endpoint":"y"}}}"#, "endpoint"),
            (#"{"observability":{"format":"json"}}"#, "format"),
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try load(bad) }
            do { _ = try load(bad) } catch { #expect("\(error)".contains(fragment), "\(error)") }
        }
        var env = ServerConfiguration()
        try env.apply(environment: ["PORTCULLIS_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "PORTCULLIS_LOG_FORMAT": "json"])
        #expect(env.observability.traces?.otlpEndpoint == "http://127.0.0.1:4318/v1/traces" && env.observability.logFormat == "json")
    }
}
