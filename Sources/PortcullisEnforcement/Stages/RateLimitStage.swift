public import PortcullisCore
public import Foundation

/// Token buckets per agent and tool, taken only by calls that were allowed (a denied call costs nothing).
public struct RateLimitStage: CallStage {
    public let limiter: any RateBudget
    public let defaultLimit: RateLimit
    public let toolLimits: [String: RateLimit]
    public let clock: @Sendable () -> Date
    public var name: String { "rate-limit" }

    public init(limiter: any RateBudget, defaultLimit: RateLimit, toolLimits: [String: RateLimit],
                clock: @escaping @Sendable () -> Date) {
        self.limiter = limiter
        self.defaultLimit = defaultLimit
        self.toolLimits = toolLimits
        self.clock = clock
    }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard call.action == .callTool || call.action == .httpRequest else { return .proceed }
        let limit = toolLimits[call.resourceName] ?? defaultLimit
        let taken: (allowed: Bool, retryAfter: TimeInterval)
        do {
            taken = try await limiter.take("\(call.caller.agent.id)|\(call.resourceName)", perMinute: limit.perMinute,
                                           burst: limit.burst, now: clock())
        } catch {
            let reason = "the rate limit for \(call.resourceName) cannot be checked: \(error)"
            call.decision?.refuse(reason)
            return .refuse(Refusal(.stateUnavailable, reason))
        }
        guard !taken.allowed else { return .proceed }
        let seconds = Int(taken.retryAfter.rounded(.up))
        let reason = "rate limit for \(call.resourceName) reached (\(Int(limit.perMinute))/min, burst \(Int(limit.burst))); retry in \(seconds)s"
        call.decision?.refuse(reason)
        return .refuse(Refusal(.rateLimited, reason, retryAfterSeconds: seconds))
    }
}
