import ContextStore
import Instrumentation
import ServiceContextModule

/// Carries chosen context keys across processes in the W3C `baggage`
/// header (https://www.w3.org/TR/baggage/), as a swift-distributed-tracing
/// `Instrument`.
///
/// Only the keys you list leave the process: a propagator made with no
/// fields sends nothing, and one made with `.key(requestID)` sends
/// `request_id` and nothing else. Received members with other keys are
/// ignored too, so a caller cannot set arbitrary keys in your context.
///
/// On the client, inject the current context into the request's headers:
///
/// ```swift
/// let requestID = ContextKey<String>("request_id")
/// let baggage = try W3CBaggagePropagator(propagating: .key(requestID))
///
/// var request = HTTPClientRequest(url: "http://127.0.0.1:8080/work")
/// baggage.inject(TaskContext.current, into: &request.headers, using: HTTPHeadersInjector())
/// ```
///
/// On the server, run the handler in a scope with the received keys set:
///
/// ```swift
/// try await baggage.run(extractingFrom: request.headers, using: HTTPFieldsExtractor()) {
///     logger.info("working")  // request_id=... from the caller
/// }
/// ```
///
/// `HTTPHeadersInjector` and `HTTPFieldsExtractor` stand for the `Injector`
/// and `Extractor` of your HTTP library's header type: a few lines each,
/// which `Examples/RequestIDServer` has for AsyncHTTPClient and Hummingbird.
///
/// As an `Instrument` (for `InstrumentationSystem.bootstrap`, or a
/// `MultiplexInstrument` beside a tracer), `extract` writes the received
/// keys into `ServiceContext.taskContext` and `inject` reads them from
/// there.
///
/// ## Choices this implementation makes
///
/// - A value is carried without its properties: extraction drops a
///   member's properties, injection writes none. (``W3CBaggage/parse(_:)``
///   and ``W3CBaggage/serialize(_:)`` keep them, for those who need them.)
/// - Received members whose keys are not listed are not forwarded. The spec
///   says a system SHOULD pass received baggage on; this one lets out only
///   what you chose.
/// - When a key appears twice in a header, the last value wins.
/// - A received header is read whole when it holds at most 64 members and
///   8,192 bytes, all its `baggage` lines together, as the spec requires;
///   beyond that, members are kept while they fit in 180 members and 8,192
///   bytes as written, and only its first 16,384 bytes are read. When the
///   header sent would exceed those limits, fields are kept in the order
///   given here and the ones that do not fit are dropped whole (see
///   ``W3CBaggage``). A malformed received member is skipped.
/// - Baggage keys are literal: `request%5Fid` is not `request_id`, so an
///   encoded key can neither set nor shadow a listed one. Keys made of
///   `[A-Za-z0-9_.~-]` mean the same to every OpenTelemetry implementation
///   (some percent-decode keys); values are percent-encoded with `+` as
///   `%2B`, so that OpenTelemetry Python, which decodes `+` as a space,
///   reads them as sent (see ``W3CBaggage``).
public struct W3CBaggagePropagator: Instrument {
    /// The header name, lowercase as the spec asks.
    ///
    /// ```swift
    /// W3CBaggagePropagator.headerName  // "baggage"
    /// ```
    public static let headerName = "baggage"

    /// The fields carried, in the order they are written.
    ///
    /// ```swift
    /// try W3CBaggagePropagator(propagating: .key(requestID)).fields.map(\.baggageKey)  // ["request_id"]
    /// ```
    public let fields: [BaggageField]

    /// The index into `fields` for each baggage key.
    private let fieldIndex: [String: Int]

    /// A propagator that carries `fields`, and nothing else.
    ///
    /// ```swift
    /// let none = try W3CBaggagePropagator(propagating: [])  // sends nothing
    /// let some = try W3CBaggagePropagator(propagating: [.key(requestID), .key(tenant)])
    /// ```
    ///
    /// - Throws: ``BaggageError/invalidKey(_:)`` when a baggage key is not a
    ///   token; ``BaggageError/duplicateKey(_:)`` when two fields share one.
    public init(propagating fields: [BaggageField]) throws(BaggageError) {
        var index: [String: Int] = [:]
        for (position, field) in fields.enumerated() {
            guard W3CBaggage.isValidKey(field.baggageKey) else { throw .invalidKey(field.baggageKey) }
            guard index.updateValue(position, forKey: field.baggageKey) == nil else {
                throw .duplicateKey(field.baggageKey)
            }
        }
        self.fields = fields
        self.fieldIndex = index
    }

    /// A propagator that carries `fields`, and nothing else.
    ///
    /// ```swift
    /// let baggage = try W3CBaggagePropagator(propagating: .key(requestID), .key(tenant))
    /// ```
    ///
    /// - Throws: ``BaggageError``, as ``init(propagating:)-([BaggageField])`` does.
    public init(propagating fields: BaggageField...) throws(BaggageError) {
        try self.init(propagating: fields)
    }

    // MARK: Headers

    /// The baggage-string for the listed keys present in `context`, or nil
    /// when none is.
    ///
    /// ```swift
    /// try TaskContext.set(requestID, "7f0c 2b4e")
    /// baggage.header()  // "request_id=7f0c%202b4e"
    /// ```
    public func header(for context: TaskContext = .current) -> String? {
        var members: [W3CBaggage.Member] = []
        for field in fields {
            if let value = field.read(context) {
                members.append(W3CBaggage.Member(key: field.baggageKey, value: value))
            }
        }
        let header = W3CBaggage.serialize(members)
        return header.isEmpty ? nil : header
    }

    /// The listed keys found in `header`, as a context that holds only them.
    ///
    /// ```swift
    /// baggage.context(fromHeader: "request_id=7f0c2b4e, other=1")[requestID]  // "7f0c2b4e"
    /// ```
    public func context(fromHeader header: String) -> TaskContext {
        var context = TaskContext()
        apply(header, to: &context)
        return context
    }

    /// Sets, in `context`, each listed key that `header` carries.
    private func apply(_ header: String, to context: inout TaskContext) {
        for member in W3CBaggage.parse(header) {
            guard let position = fieldIndex[member.key] else { continue }
            _ = fields[position].write(member.value, &context)
        }
    }

    // MARK: Instrument

    /// Reads the `baggage` header from `carrier` and sets the listed keys it
    /// carries in `context.taskContext` (made empty if absent).
    ///
    /// ```swift
    /// var serviceContext = ServiceContext.topLevel
    /// baggage.extract(request.headers, into: &serviceContext, using: HTTPFieldsExtractor())
    /// serviceContext.taskContext?[requestID]  // the caller's request id
    /// ```
    ///
    /// A carrier with several `baggage` header lines must have its
    /// extractor join them with `,` (the one string it returns is all the
    /// propagator reads): they are one baggage-string, and the limits apply
    /// to them together.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout ServiceContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: Self.headerName, from: carrier) else { return }
        var taskContext = context.taskContext ?? TaskContext()
        apply(header, to: &taskContext)
        context.taskContext = taskContext
    }

    /// Writes the `baggage` header for the listed keys in
    /// `context.taskContext` into `carrier`; writes nothing when none is there.
    ///
    /// ```swift
    /// var serviceContext = ServiceContext.topLevel
    /// serviceContext.taskContext = TaskContext.current
    /// baggage.inject(serviceContext, into: &headers, using: HTTPHeadersInjector())
    /// ```
    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let taskContext = context.taskContext else { return }
        inject(taskContext, into: &carrier, using: injector)
    }

    // MARK: ContextStore

    /// Writes the `baggage` header for the listed keys in `context` (by
    /// default the current one) into `carrier`; writes nothing when none is
    /// there.
    ///
    /// ```swift
    /// var request = HTTPClientRequest(url: url)
    /// baggage.inject(into: &request.headers, using: HTTPHeadersInjector())
    /// ```
    public func inject<Carrier, Inject: Injector>(
        _ context: TaskContext = .current,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let header = header(for: context) else { return }
        injector.inject(header, forKey: Self.headerName, into: &carrier)
    }

    /// The listed keys carried by `carrier`'s `baggage` header, as a context
    /// that holds only them.
    ///
    /// ```swift
    /// let received = baggage.extract(request.headers, using: HTTPFieldsExtractor())
    /// received[requestID]  // the caller's request id, if it sent one
    /// ```
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        using extractor: Extract
    ) -> TaskContext where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: Self.headerName, from: carrier) else { return TaskContext() }
        return context(fromHeader: header)
    }

    /// Runs `body` in a new scope: a copy of the current context with the
    /// listed keys from `carrier`'s `baggage` header set over it.
    ///
    /// ```swift
    /// baggage.run(extractingFrom: headers, using: extractor) {
    ///     logger.info("job started")  // request_id=... from the sender
    /// }
    /// ```
    public func run<Carrier, Extract: Extractor, R>(
        extractingFrom carrier: Carrier,
        using extractor: Extract,
        _ body: () throws -> R
    ) rethrows -> R where Extract.Carrier == Carrier {
        try TaskContext.run(with: scopeContext(from: carrier, using: extractor), body)
    }

    /// Runs `body` in a new scope: a copy of the current context with the
    /// listed keys from `carrier`'s `baggage` header set over it.
    ///
    /// ```swift
    /// try await baggage.run(extractingFrom: request.headers, using: HTTPFieldsExtractor()) {
    ///     try await handle(request)
    /// }
    /// ```
    public func run<Carrier, Extract: Extractor, R>(
        extractingFrom carrier: Carrier,
        using extractor: Extract,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R where Extract.Carrier == Carrier {
        try await TaskContext.run(with: scopeContext(from: carrier, using: extractor), isolation: isolation, body)
    }

    private func scopeContext<Carrier, Extract: Extractor>(
        from carrier: Carrier,
        using extractor: Extract
    ) -> TaskContext where Extract.Carrier == Carrier {
        var context = TaskContext.current
        if let header = extractor.extract(key: Self.headerName, from: carrier) {
            apply(header, to: &context)
        }
        return context
    }
}
