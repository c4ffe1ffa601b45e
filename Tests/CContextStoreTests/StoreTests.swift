import CContextStore
import CContextStoreSPI
import Testing

/// Store-level contracts: creation, backends, destroy, statistics.
///
/// Owns: the store's contracts from Swift. The C harness's runner checks
/// after every test that a store ends empty and destroys with CTXS_OK.
@Suite("Store")
struct StoreTests {
    @Test("NULL options give the default backend; destroy(NULL) is OK")
    func defaults() throws {
        let store = try #require(ctxs_store_create(nil))
        #expect(ctxs_store_backend(store) != CTXS_BACKEND_DEFAULT)
        #expect(ctxs_store_destroy(store) == statusOK)
        #expect(ctxs_store_destroy(nil) == statusOK)

        var options = ctxs_store_options()
        let zeroed = try #require(ctxs_store_create(&options))
        #expect(ctxs_store_backend(zeroed) != CTXS_BACKEND_DEFAULT)
        #expect(ctxs_store_destroy(zeroed) == statusOK)
    }

    @Test("the jemalloc backend exists exactly when the build has it")
    func jemallocBackend() throws {
        var options = ctxs_store_options()
        options.backend = CTXS_BACKEND_JEMALLOC
        let store = ctxs_store_create(&options)
        if ctxs_have_jemalloc() == 1 {
            let created = try #require(store)
            #expect(ctxs_store_backend(created) == CTXS_BACKEND_JEMALLOC)
            #expect(ctxs_store_destroy(created) == statusOK)
        } else {
            #expect(ctxs_have_jemalloc() == 0)
            #expect(store == nil)
        }
    }

    @Test("destroy is EBUSY while a map or a slot lives, and frees nothing", arguments: Backend.allCases)
    func destroyBusy(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let a = s.value()
            let m = try s.map([(1, a), (33, s.value())])
            #expect(ctxs_store_destroy(s.store) == statusEBUSY)
            #expect(find(m, 1) == a)
            #expect(ctxs_map_check(m) == 1)

            let slot = try #require(ctxs_slot_create(s.store, m, nil))
            ctxs_map_release(m)
            #expect(ctxs_store_destroy(s.store) == statusEBUSY)
            #expect(s.slotFind(slot, 1) == a)
            ctxs_slot_release(slot)

            // A store whose only object was a slot without entries is busy too.
            let emptySlot = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_store_destroy(s.store) == statusEBUSY)
            #expect(s.stats.live_slots == 1)
            ctxs_slot_release(emptySlot)
        }
    }

    @Test("statistics follow the objects", arguments: Backend.allCases)
    func statistics(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let start = s.stats
            #expect(start.bytes_reserved >= start.bytes_in_use)

            let m = try s.map((UInt64(1)...100).map { ($0, s.value()) })
            let full = s.stats
            #expect(full.live_roots == start.live_roots + 1)
            #expect(full.live_values == start.live_values + 100)
            #expect(full.live_nodes == start.live_nodes + ctxs_map_node_count(m))
            #expect(full.bytes_in_use > start.bytes_in_use)
            #expect(full.bytes_reserved >= full.bytes_in_use)
            if backend == .malloc {
                #expect(full.bytes_reserved == full.bytes_in_use)
            }

            let slot = try #require(ctxs_slot_create(s.store, m, nil))
            #expect(s.stats.live_slots == start.live_slots + 1)
            ctxs_slot_release(slot)
            ctxs_map_release(m)

            let end = s.stats
            #expect(LiveCounts(end) == LiveCounts(start))
            #expect(end.bytes_reserved >= end.bytes_in_use)
        }
    }

    @Test("objects of another store are rejected", arguments: Backend.allCases)
    func foreignObjects(backend: Backend) throws {
        try withStore(backend: backend) { other in
            let foreign = try other.map([(1, other.value())])
            try withStore(backend: backend) { s in
                let before = s.live
                #expect(ctxs_slot_create(s.store, foreign, nil) == nil)
                #expect(s.live == before)

                let slot = try #require(ctxs_slot_create(s.store, nil, nil))
                #expect(ctxs_slot_replace(slot, foreign) == statusEINVAL)
                #expect(ctxs_slot_find(slot, 1, nil) == 0)

                let foreignSlot = try #require(ctxs_slot_create(other.store, nil, nil))
                #expect(ctxs_slot_create(s.store, nil, foreignSlot) == nil)
                #expect(s.live.slots == 1)
                ctxs_slot_release(foreignSlot)
                ctxs_slot_release(slot)
            }
            #expect(ctxs_map_count(foreign) == 1)
            ctxs_map_release(foreign)
        }
    }
}
