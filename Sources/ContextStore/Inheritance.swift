/// How a new context scope starts from the context around it.
///
/// ```swift
/// try TaskContext.set(user, "ada")
/// TaskContext.run(inheriting: .chain) {
///     TaskContext.get(user)          // "ada", read through to the parent
///     try? TaskContext.set(user, "bob")  // stays in this layer
/// }
/// TaskContext.get(user)              // still "ada"
/// ```
public enum Inheritance: Sendable, Hashable {
    /// An O(1) snapshot of the enclosing context, isolated from then on:
    /// neither side sees the other's later writes. The default.
    case copy
    /// The very same context as the enclosing scope: writes flow both ways.
    case share
    /// A layer of its own over the live enclosing context. Reads fall
    /// through to the parent (including the parent's later writes), writes
    /// stay in the layer, `remove` hides an inherited key and `clear` hides
    /// every inherited key.
    case chain
}
