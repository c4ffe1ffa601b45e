/// Keeps the optimiser from dropping a result (ordo-one's `blackHole`,
/// for code that does not link the harness).
@inline(never)
public func sink<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
