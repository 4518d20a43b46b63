import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisEnforcement
import Prometheus

/// `GET /metrics`: this node's metrics in the Prometheus text format (docs/observability.md), for a scraper that
/// presents the metrics token (`metrics.token` in the data directory) or the admin token. Nothing else opens with
/// the metrics token.
struct MetricsRoutes: Sendable {
    let services: PortcullisApplication.Services

    func register(on router: Router<PortcullisRequestContext>) {
        let services = services
        router.get("/metrics") { request, _ -> Response in
            guard let presented = Self.bearer(request.headers[.authorization]),
                  Self.matches(presented, services.metricsToken) || Self.matches(presented, services.adminToken) else {
                return Response(status: .unauthorized,
                                headers: [.wwwAuthenticate: #"Bearer realm="portcullis-metrics""#, .contentType: "text/plain"],
                                body: .init(byteBuffer: ByteBuffer(string: "metrics token required (Authorization: Bearer …)\n")))
            }
            var body = [UInt8]()
            services.metricsRegistry.emit(into: &body)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// Compares digests, so that the time taken says nothing about the token.
    static func matches(_ presented: String, _ expected: String) -> Bool {
        SHA256.hash(data: Data(presented.utf8)) == SHA256.hash(data: Data(expected.utf8))
    }
}
