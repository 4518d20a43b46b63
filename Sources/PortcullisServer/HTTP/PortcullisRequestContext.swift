public import Hummingbird
public import NIOCore
public import PortcullisEnforcement

/// The request context of every route: Hummingbird's core storage plus the peer address,
/// which gateway policies see as `context.sourceAddress`.
public struct PortcullisRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Who is calling, once an authenticator has said (admin routes).
    public var identity: CallerIdentity?
    /// The agent calling a gateway, once the resource server has authenticated its token.
    public var caller: GatewayCaller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
