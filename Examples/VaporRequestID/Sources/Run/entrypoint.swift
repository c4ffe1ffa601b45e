import App
import ContextStore
import ContextStoreLogging
import Logging
import Vapor

/// Starts the example server: `swift run Run serve --hostname 127.0.0.1 --port 8080`.
@main
enum Entrypoint {
    static func main() async throws {
        var env = try Environment.detect()
        // Vapor's console logger (level from --log or LOG_LEVEL, as
        // `LoggingSystem.bootstrap(from:)` reads it), with the request id of
        // the task that logs added to every line.
        let level = try Logger.Level.detect(from: &env)
        LoggingSystem.bootstrap(console: Terminal(), level: level, metadataProvider: .contextStore(.key(.requestID)))

        let app = try await Application.make(env)
        do {
            try await configure(app)
            try await app.execute()
        } catch {
            app.logger.report(error: error)
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
