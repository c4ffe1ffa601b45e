import CContextStoreSPI
import Testing

@testable import ContextStore

// How values are stored (see `_Stored`): class instances unboxed, small
// Ints, Bools and Strings tagged in the word itself, everything else boxed. Whichever way a value went in, every read
// path gives back the same value (the same instance, for a class), and a
// read of the wrong type is nil.

private protocol Named: AnyObject, Sendable {
    var name: String { get }
}

private class Animal: @unchecked Sendable {
    // Safe: no stored state besides the immutable `name` of subclasses.
    var sound: String { "..." }
}

private final class Dog: Animal, Named, @unchecked Sendable {
    // Safe: one immutable `let`.
    let name: String
    init(_ name: String) { self.name = name }
    override var sound: String { "woof" }
}

private final class Robot: Named {
    let name: String
    init(_ name: String) { self.name = name }
}

private let dogKey = ContextKey<Dog>("storage.value")
private let animalKey = ContextKey<Animal>("storage.value")
private let robotKey = ContextKey<Robot>("storage.value")
private let namedKey = ContextKey<any Named>("storage.value")
private let intKey = ContextKey<Int>("storage.value")
private let optionalKey = ContextKey<Dog?>("storage.value")
private let doubleKey = ContextKey<Double>("storage.value")

extension ContextStoreTests {
    @Suite("Value storage")
    struct ValueStorageTests {
        @Test func aClassInstanceComesBackAsTheSameInstanceOnEveryReadPath() throws {
            let rex = Dog("rex")
            try TaskContext.run {
                try TaskContext.set(dogKey, rex)
                #expect(TaskContext.get(dogKey) === rex)
                #expect((TaskContext.get("storage.value") as? Dog) === rex)
                #expect(TaskContext.get("storage.value", default: Dog("other")) === rex)
                #expect(TaskContext.get("storage.value", as: Dog.self) === rex)
                #expect(TaskContext.get("storage.value", as: Animal.self) === rex, "through its superclass")
                #expect(TaskContext.get("storage.value", as: Robot.self) == nil)
                #expect(TaskContext.get("storage.none", as: Dog.self) == nil)
                #expect(TaskContext.current[dogKey] === rex)
                #expect((TaskContext.current["storage.value"] as? Dog) === rex)
                let entry = TaskContext.current.entries.first { $0.name == "storage.value" }
                #expect((entry?.value as? Dog) === rex)
                #expect(TaskContext.current.description.contains("Dog"))
            }
            let persistent = try TaskContext().setting(dogKey, rex)
            #expect(persistent[dogKey] === rex)
            #expect((persistent["storage.value"] as? Dog) === rex)
        }

        @Test func aClassInstanceIsStoredAsItselfAndAStructInABox() throws {
            let rex = Dog("rex")
            try TaskContext.run {
                try TaskContext.set(dogKey, rex)
                // (Compared outside #expect: the macro's expansion of an
                // AnyObject === Dog comparison crashes Swift 6.3.1's SILGen.)
                let stored = dogKey._readID.flatMap { TaskContext._withStored($0) { $0 } }
                let isTheInstance = stored == Unmanaged.passUnretained(rex).toOpaque()
                #expect(isTheInstance, "no box around a class instance")
                try TaskContext.set(doubleKey, 5)
                let isABox =
                    doubleKey._readID.flatMap { id in
                        TaskContext._withStored(id) { raw in
                            _Stored.isObject(raw)
                                && Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() is _Box<Double>
                        }
                    } ?? false
                #expect(isABox)
            }
        }

        /// `_box` reads a class's superclass from its metadata once the
        /// store has checked that layout; it must take every box, of any
        /// value, and no other object: a root class, a subclass, or a class
        /// that is generic like `_Box`.
        @Test func onlyBoxesAreTakenForBoxes() {
            _ = _Store.raw  // makes the store, which runs the check
            #if _pointerBitWidth(_64) && os(Linux)
                #expect(_checkSuperclassWord())
                #expect(_checkExistentialLayout())
                #expect(ctxs_swift_box_class_get() == unsafeBitCast(_AnyBox.self, to: UnsafeRawPointer.self))
            #endif
            final class Generic<T: Sendable>: Sendable {
                let value: T
                init(_ value: T) { self.value = value }
            }
            let boxes: [AnyObject] = [
                _Box(1), _Box("a heap string, built at run time" + String(7)), _Box([1.5]), _Box(Dog?.none),
            ]
            let others: [AnyObject] = [Dog("rex"), Robot("r2"), Animal(), Generic(1), _AnyBox()]
            for object in boxes { #expect(_box(object) === object, "\(type(of: object))") }
            for object in others { #expect(_box(object) == nil, "\(type(of: object))") }
            #expect(boxes.allSatisfy { _isBoxClass(type(of: $0)) } && !others.contains { _isBoxClass(type(of: $0)) })
        }

        @Test func aReadByNameHandsOutAReferenceOfItsOwnToAClassInstance() throws {
            // `get(_:)` writes a class instance's existential itself
            // (`_optionalAnyValue`): with the instance's dynamic type, and a
            // reference that the caller owns, neither leaked nor taken
            // from the store's.
            let counter = DeinitCounter()
            let trackedKey = ContextKey<Tracked>("storage.tracked")
            let rex = Dog("rex")
            try TaskContext.run {
                try TaskContext.set(animalKey, rex)
                try TaskContext.set(trackedKey, Tracked("kept", counter))
                var held: [any Sendable] = []
                for _ in 0..<100 {
                    let animal = TaskContext.get("storage.value")
                    #expect(animal.map { type(of: $0) } == Dog.self, "the dynamic type, not the key's")
                    #expect((animal as? Dog) === rex && (animal as? Animal)?.sound == "woof")
                    let tracked = TaskContext.get("storage.tracked")
                    #expect((tracked as? Tracked)?.label == "kept")
                    held += [animal, tracked].compactMap { $0 }
                }
                held.removeAll()
                #expect(counter.count == 0, "the store still holds it")
                try TaskContext.remove(trackedKey)
                #expect(counter.count == 1, "released with the store's reference: the reads left none behind")
            }
        }

        @Test func aSubclassInstanceReadsThroughItsSuperclassAndItsOwnClass() throws {
            let rex = Dog("rex")
            try TaskContext.run {
                try TaskContext.set(animalKey, rex)
                #expect(TaskContext.get(animalKey) === rex)
                #expect(TaskContext.get(animalKey)?.sound == "woof")
                #expect(TaskContext.get(dogKey) === rex)
                #expect(TaskContext.get(robotKey) == nil)
                #expect(TaskContext.get(intKey) == nil)
            }
        }

        @Test func aClassBoundExistentialKeyStoresAndReadsItsInstance() throws {
            let robot = Robot("r2")
            try TaskContext.run {
                try TaskContext.set(namedKey, robot)
                #expect(TaskContext.get(namedKey) === robot)
                #expect(TaskContext.get(namedKey)?.name == "r2")
                #expect(TaskContext.get(robotKey) === robot)
                #expect((TaskContext.get("storage.value") as? Robot) === robot)
                #expect(TaskContext.get(dogKey) == nil)
            }
        }

        @Test func anInstanceSetThroughAStringKeyReadsThroughATypedKey() throws {
            let rex = Dog("rex")
            try TaskContext.run {
                let erased: any Sendable = rex
                try TaskContext.set("storage.value", erased)
                #expect(TaskContext.get(dogKey) === rex)
                #expect(TaskContext.get(animalKey) === rex)
                #expect(TaskContext.get(namedKey) === rex)
            }
        }

        @Test func valuesOfOtherKindsRoundTripAndMismatchedTypesReadNil() throws {
            try TaskContext.run {
                try TaskContext.set(intKey, 42)
                #expect(TaskContext.get(intKey) == 42)
                #expect(TaskContext.get(dogKey) == nil)
                #expect(TaskContext.get("storage.value") as? Int == 42)

                let rex = Dog("rex")
                try TaskContext.set(optionalKey, rex)
                #expect(TaskContext.get(optionalKey).flatMap { $0 } === rex)
                try TaskContext.set(optionalKey, nil)
                let storedNil = TaskContext.get(optionalKey)
                #expect(storedNil != nil && storedNil! == nil, "a stored nil is a value")
                #expect(TaskContext.get(dogKey) == nil)

                let closure: @Sendable () -> Int = { 7 }
                try TaskContext.set(ContextKey<@Sendable () -> Int>("storage.closure"), closure)
                #expect(TaskContext.get(ContextKey<@Sendable () -> Int>("storage.closure"))?() == 7)
            }
        }

        @Test func aReplacedOrRemovedInstanceIsReleasedAtOnce() throws {
            let counter = DeinitCounter()
            let key = ContextKey<Tracked>("storage.tracked")
            try TaskContext.run {
                try TaskContext.set(key, Tracked("first", counter))
                try TaskContext.set(key, Tracked("second", counter))
                #expect(counter.count == 1)
                try TaskContext.remove(key)
                #expect(counter.count == 2)
            }
        }
    }
}
