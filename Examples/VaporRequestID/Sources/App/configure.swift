import Billing
import Vapor

/// Configures the example on `app`: ``RequestIDMiddleware`` first, then the
/// routes. `Billing` logs through `app.logger`, so set the logger (with
/// `.contextStore(.key(.requestID))` as its metadata provider, see the `Run`
/// target) before calling this.
public func configure(_ app: Application) async throws {
    app.middleware.use(RequestIDMiddleware(), at: .beginning)
    try routes(app, billing: Billing(logger: app.logger))
}
