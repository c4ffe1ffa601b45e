import ContextStore
import ContextStoreTracing
import Instrumentation
import ServiceContextModule
import Testing

// The two-way bridge between ContextStore and ServiceContext.

private enum RequestIDKey: ServiceContextKey {
    typealias Value = String
}

private enum AttemptKey: ServiceContextKey {
    typealias Value = Int
    static var nameOverride: String? { "attempt" }
}

private enum OtherKey: ServiceContextKey {
    typealias Value = String
}

private let requestID = ContextKey<String>("bridge.request_id")
private let attempt = ContextKey<Int>("bridge.attempt")
private let unmapped = ContextKey<String>("bridge.unmapped")

private let bridge = ServiceContextBridge()
    .mapping(requestID, to: RequestIDKey.self)
    .mapping(attempt, to: AttemptKey.self)

extension TracingTests {
    @Suite("ServiceContext bridge")
    struct ServiceContextBridgeTests {
        @Test func mappedNamesAreListedInOrder() {
            #expect(bridge.mappedNames.map(\.contextName) == ["bridge.request_id", "bridge.attempt"])
            #expect(bridge.mappedNames.map(\.serviceKeyName) == ["RequestIDKey", "attempt"])
        }

        @Test func fromTheCurrentContextToAServiceContext() throws {
            let serviceContext = try TaskContext.run { () throws -> ServiceContext in
                try TaskContext.set(requestID, "r-1")
                try TaskContext.set(unmapped, "u")
                return bridge.serviceContext()
            }
            #expect(serviceContext[RequestIDKey.self] == "r-1")
            #expect(serviceContext[AttemptKey.self] == nil, "absent keys stay absent")
            #expect(serviceContext.taskContext?[unmapped] == "u", "the whole context is carried")
            #expect(serviceContext.count == 2)
        }

        @Test func intoAGivenServiceContext() throws {
            var base = ServiceContext.topLevel
            base[OtherKey.self] = "kept"
            base[RequestIDKey.self] = "replaced"
            let serviceContext = bridge.serviceContext(from: try TaskContext().setting(requestID, "r-2"), merging: base)
            #expect(serviceContext[OtherKey.self] == "kept")
            #expect(serviceContext[RequestIDKey.self] == "r-2")
        }

        @Test func fromAServiceContextToATaskContext() throws {
            var serviceContext = ServiceContext.topLevel
            serviceContext[RequestIDKey.self] = "r-3"
            serviceContext[AttemptKey.self] = 2
            serviceContext[OtherKey.self] = "not mapped"
            let context = bridge.taskContext(from: serviceContext, merging: TaskContext())
            #expect(context[requestID] == "r-3")
            #expect(context[attempt] == 2)
            #expect(context.names == ["bridge.attempt", "bridge.request_id"])
        }

        @Test func theCarriedContextComesBackUnderTheMappedKeys() throws {
            var serviceContext = ServiceContext.topLevel
            serviceContext.taskContext = try TaskContext().setting(unmapped, "carried").setting(requestID, "carried id")
            serviceContext[RequestIDKey.self] = "mapped id"

            let alone = bridge.taskContext(from: serviceContext, merging: TaskContext())
            #expect(alone[unmapped] == "carried")
            #expect(alone[requestID] == "mapped id", "a mapped key wins over the carried context")

            let merged = bridge.taskContext(
                from: serviceContext, merging: try TaskContext().setting(attempt, 7).setting(unmapped, "base"))
            #expect(merged[attempt] == 7, "base keys stay")
            #expect(merged[unmapped] == "carried", "the carried context wins over base")
            #expect(merged[requestID] == "mapped id")
        }

        @Test func runOpensAScopeFromAServiceContext() async throws {
            var serviceContext = ServiceContext.topLevel
            serviceContext[RequestIDKey.self] = "r-4"
            try await TaskContext.run {
                try TaskContext.set(unmapped, "outer")
                try TaskContext.set(requestID, "outer id")
                await bridge.run(from: serviceContext) {
                    await Task.yield()  // the async overload
                    #expect(TaskContext.get(requestID) == "r-4")
                    #expect(TaskContext.get(unmapped) == "outer", "a copy of the enclosing context")
                    try? TaskContext.set(unmapped, "inner")
                }
                #expect(TaskContext.get(requestID) == "outer id")
                #expect(TaskContext.get(unmapped) == "outer", "the scope was a copy")

                let seen = bridge.run(from: serviceContext) { TaskContext.get(requestID) }
                #expect(seen == "r-4")
            }
        }

        @Test func roundTripThroughServiceContextCurrent() async throws {
            try await TaskContext.run {
                try TaskContext.set(requestID, "r-5")
                try TaskContext.set(attempt, 1)
                // A library that only knows ServiceContext...
                await ServiceContext.withValue(bridge.serviceContext()) {
                    await TaskContext.run(with: TaskContext()) {
                        #expect(TaskContext.get(requestID) == nil, "an empty scope in between")
                        // ...and a handler that turns it back into a scope.
                        await bridge.run(from: ServiceContext.current ?? .topLevel) {
                            await Task.yield()  // the async overload
                            #expect(TaskContext.get(requestID) == "r-5")
                            #expect(TaskContext.get(attempt) == 1)
                        }
                    }
                }
            }
        }

        @Test func aKeyMappedTwiceTakesTheLastMapping() throws {
            var twice = ServiceContextBridge()
            twice.map(requestID, to: RequestIDKey.self)
            twice.map(requestID, to: OtherKey.self)
            var serviceContext = ServiceContext.topLevel
            serviceContext[RequestIDKey.self] = "first"
            serviceContext[OtherKey.self] = "second"
            #expect(twice.taskContext(from: serviceContext, merging: TaskContext())[requestID] == "second")
            let out = twice.serviceContext(from: try TaskContext().setting(requestID, "x"))
            #expect(out[RequestIDKey.self] == "x")
            #expect(out[OtherKey.self] == "x")
        }
    }
}
