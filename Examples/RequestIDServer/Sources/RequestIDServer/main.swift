import ContextStore
import ContextStoreLogging
import Hummingbird
import Logging
import RequestIDApp

// Every log line gets the request id of the task that logs it.
LoggingSystem.bootstrap(StreamLogHandler.standardOutput, metadataProvider: .contextStore(.key(.requestID)))

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
let app = buildApplication(port: port, logger: Logger(label: "RequestIDServer"))
try await app.runService()
