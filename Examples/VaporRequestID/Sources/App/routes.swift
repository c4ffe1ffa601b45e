import Billing
import ContextStore
import Vapor

/// The reply of `GET /checkout`: the request id as read in each place.
public struct CheckoutReply: Content, Equatable {
    /// Vapor's `request.id`, from the route.
    public var vapor: String
    /// The context's request id, read in the route.
    public var route: String?
    /// What `Billing`, which does not import Vapor, saw in the route's task
    /// and in its child task, and charged.
    public var billing: Charge

    /// A reply with the id as read in each place.
    public init(vapor: String, route: String?, billing: Charge) {
        self.vapor = vapor
        self.route = route
        self.billing = billing
    }
}

/// `GET /checkout?cents=N&pause=MS`: logs, charges `cents` (default 1000)
/// through `billing`, whose fraud check waits `pause` milliseconds (default
/// 0), logs again, and answers a ``CheckoutReply``.
func routes(_ app: Application, billing: Billing) throws {
    app.get("checkout") { request async throws -> CheckoutReply in
        request.logger.info("checkout: handling")
        let cents = request.query[Int.self, at: "cents"] ?? 1000
        let pause = max(0, request.query[Int.self, at: "pause"] ?? 0)
        let charge = try await billing.charge(cents: cents, pause: .milliseconds(pause))
        request.logger.info("checkout: done")
        return CheckoutReply(vapor: request.id, route: TaskContext.get(.requestID), billing: charge)
    }
}
