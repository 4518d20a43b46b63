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
            guard let presented = HTTP.bearer(request),
                  HTTP.constantTimeEqual(presented, services.metricsToken) || HTTP.constantTimeEqual(presented, services.adminToken)
            else {
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
}
