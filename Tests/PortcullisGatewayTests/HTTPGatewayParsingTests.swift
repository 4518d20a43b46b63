import Foundation
import PortcullisTesting
@testable import PortcullisEnforcement
@testable import PortcullisGateway
import Testing

/// The HTTP gateway's readers of what an agent sends: the request path and the operation table. Every path that
/// two parsers could read differently is refused; a fixed-seed run of mutated paths never yields a dot segment,
/// an empty segment or a segment with a slash.
@Suite("HTTP gateway request parsing")
struct HTTPGatewayParsingTests {
    @Test("paths that normalize differently elsewhere are refused", arguments: [
        "/a/../b", "/a/%2e%2e/b", "/a/%2E%2e", "/a/./b", "/a/%2e/b", "/a//b", "/a/b;c", "/a%2fb", "/a%2Fb", "/a%5cb",
        "/a\\b", "/a%252e", "/a/%00", "/a/%0d%0a", "/a/%zz", "a/b",
    ])
    func refused(path: String) {
        if case .success(let segments) = HTTPGateway.segments(of: path) {
            Issue.record("\(path) was accepted as \(segments)")
        }
    }

    @Test("ordinary paths decode to their segments")
    func accepted() throws {
        #expect(try HTTPGateway.segments(of: "/tickets/42").get() == ["tickets", "42"])
        #expect(try HTTPGateway.segments(of: "/tickets/42/").get() == ["tickets", "42"])
        #expect(try HTTPGateway.segments(of: "").get() == [])
        #expect(try HTTPGateway.segments(of: "/files/r%C3%A9sum%C3%A9%20v2.pdf").get() == ["files", "résumé v2.pdf"])
        #expect(HTTPGateway.percentEncodeSegment("résumé v2.pdf") == "r%C3%A9sum%C3%A9%20v2.pdf")
    }

    @Test("20,000 mutated paths: refused, or segments that re-encode to a path that reads back the same")
    func mutatedPaths() throws {
        var rng = SplitMix64(state: 0x1234_5678)
        let alphabet = Array("/.%2eEfF5cC;\\a0zZ~-_ \u{0}\r\n%25".utf8)
        for _ in 0..<20_000 {
            let count = Int(rng.next() % 24)
            var bytes: [UInt8] = [UInt8(ascii: "/")]
            for _ in 0..<count { bytes.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            let path = String(decoding: bytes, as: UTF8.self)
            guard case .success(let segments) = HTTPGateway.segments(of: path) else { continue }
            for s in segments {
                #expect(!s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\\"), "\(path) → \(segments)")
                #expect(!s.unicodeScalars.contains { $0.value < 0x20 }, "\(path) → \(segments)")
            }
            let encoded = "/" + segments.map(HTTPGateway.percentEncodeSegment).joined(separator: "/")
            #expect(try HTTPGateway.segments(of: segments.isEmpty ? "" : encoded).get() == segments, "\(path)")
        }
    }

    @Test("operations match by segment, literal segments win, HEAD follows GET")
    func matching() {
        let ops = [
            HTTPUpstreamConfiguration.Operation(method: "GET", path: "/tickets/{id}", operationId: "get"),
            HTTPUpstreamConfiguration.Operation(method: "GET", path: "/tickets/search", operationId: "search"),
            HTTPUpstreamConfiguration.Operation(method: "POST", path: "/tickets", operationId: "create"),
        ]
        #expect(HTTPUpstreamConfiguration.match(method: "GET", segments: ["tickets", "42"], in: ops)?.operation.operationId == "get")
        #expect(HTTPUpstreamConfiguration.match(method: "GET", segments: ["tickets", "42"], in: ops)?.parameters == ["id": "42"])
        #expect(HTTPUpstreamConfiguration.match(method: "GET", segments: ["tickets", "search"], in: ops)?.operation.operationId == "search")
        #expect(HTTPUpstreamConfiguration.match(method: "HEAD", segments: ["tickets", "1"], in: ops)?.operation.operationId == "get")
        #expect(HTTPUpstreamConfiguration.match(method: "DELETE", segments: ["tickets", "1"], in: ops) == nil)
        #expect(HTTPUpstreamConfiguration.match(method: "GET", segments: ["tickets"], in: ops) == nil)
    }

    @Test("an OpenAPI 3 document becomes operations; other documents are clear errors")
    func openAPI() throws {
        let doc = #"{"openapi":"3.1.0","paths":{"/tickets/{id}":{"get":{"operationId":"getTicket","tags":["crm"]},"delete":{"operationId":"deleteTicket"},"parameters":[]}}}"#
        let ops = try HTTPUpstreamConfiguration.operations(openAPI: Data(doc.utf8), source: "doc", upstream: "crm")
        #expect(Set(ops.map { "\($0.method) \($0.path) \($0.operationId ?? "")" }) == ["GET /tickets/{id} getTicket", "DELETE /tickets/{id} deleteTicket"])
        #expect(ops.first { $0.method == "GET" }?.tags == ["crm"])
        for bad in ["openapi: 3.0.0\npaths: {}", #"{"swagger":"2.0","paths":{}}"#, "", #"{"openapi":"3.0.0"}"#] {
            #expect(throws: GatewayConfigurationError.self) {
                try HTTPUpstreamConfiguration.operations(openAPI: Data(bad.utf8), source: "doc", upstream: "crm")
            }
        }
    }

    @Test("configuration: credentials must be vault references, http only to loopback")
    func validation() {
        let bad: [HTTPUpstreamConfiguration] = [
            .init(name: "crm", baseURL: "http://api.example.com"),
            .init(name: "crm", baseURL: "https://api.example.com?x=1"),
            .init(name: "crm", baseURL: "https://api.example.com", credentials: .init(read: "sk-live-literal")),
            .init(name: "crm", baseURL: "https://api.example.com", credentials: .init(write: "vault:w")),
            .init(name: "CRM", baseURL: "https://api.example.com"),
            .init(name: "crm", baseURL: "https://api.example.com", operations: [.init(method: "TRACE", path: "/x")]),
            .init(name: "crm", baseURL: "https://api.example.com", operations: [.init(method: "GET", path: "/../x")]),
        ]
        for u in bad { #expect(throws: GatewayConfigurationError.self, "\(u)") { try u.validate() } }
        #expect(throws: Never.self) {
            try HTTPUpstreamConfiguration(name: "crm", baseURL: "http://127.0.0.1:9/api",
                                          credentials: .init(read: "vault:r", write: "vault:w")).validate()
        }
    }
}
