/*
 * test_chains.c: chained slots: layers, tombstones, clears, views, and a chain 64
 * deep read at every level.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_slots_chained(harness *h) {
    ctxs_store *s = h->store;
    const uint64_t probes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const size_t np = sizeof probes / sizeof *probes;
    tracker *t[32];
    for (int i = 0; i < 32; i++) t[i] = tv_new(h, (uint64_t)i);
    model pv = {0}, cv = {0}; /* the parent's and the child's views */

    ctxs_slot *parent = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(parent != NULL);
    for (uint64_t k = 1; k <= 3; k++) {
        CHECK_EQ(ctxs_slot_assoc(parent, k, t[k]), CTXS_OK);
        model_set(&pv, k, t[k]);
    }
    ctxs_slot *child = ctxs_slot_create(s, NULL, parent);
    REQUIRE(child != NULL);
    CHECK_EQ(ctxs_slot_depth(child), 1);
    CHECK_EQ(ctxs_slot_depth(parent), 0);
    CHECK_PTR_EQ(ctxs_slot_parent(child), parent);
    model_copy(&cv, &pv);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* The parent is live: its later writes show through. */
    CHECK_EQ(ctxs_slot_assoc(parent, 4, t[4]), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(parent, 1, t[11]), CTXS_OK);
    model_set(&pv, 4, t[4]);
    model_set(&pv, 1, t[11]);
    model_set(&cv, 4, t[4]);
    model_set(&cv, 1, t[11]);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* Child writes stay in the child. */
    CHECK_EQ(ctxs_slot_assoc(child, 2, t[12]), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(child, 5, t[5]), CTXS_OK);
    model_set(&cv, 2, t[12]);
    model_set(&cv, 5, t[5]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);

    /* A removal in the child hides the inherited key, for good. */
    CHECK_EQ(ctxs_slot_without(child, 3), CTXS_OK);
    model_del(&cv, 3);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(parent, 3, t[13]), CTXS_OK);
    model_set(&pv, 3, t[13]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(child, 3, t[14]), CTXS_OK);
    model_set(&cv, 3, t[14]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 3), CTXS_OK); /* hidden again, not the parent's */
    model_del(&cv, 3);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 9), CTXS_OK); /* absent everywhere */
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 5), CTXS_OK); /* the child's own */
    model_del(&cv, 5);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* A grandchild sees the child's merged view. */
    ctxs_slot *grandchild = ctxs_slot_create(s, NULL, child);
    REQUIRE(grandchild != NULL);
    CHECK_EQ(ctxs_slot_depth(grandchild), 2);
    model gv = {0};
    model_copy(&gv, &cv);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    CHECK_EQ(ctxs_slot_without(grandchild, 4), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(grandchild, 6, t[6]), CTXS_OK);
    model_del(&gv, 4);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* Clear hides everything inherited; later child writes show. */
    CHECK_EQ(ctxs_slot_clear(child), CTXS_OK);
    model_clear(&cv);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(child, 6, t[16]), CTXS_OK);
    model_set(&cv, 6, t[16]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    /* Parent writes after the clear stay hidden too (the layer is opaque). */
    CHECK_EQ(ctxs_slot_assoc(parent, 7, t[7]), CTXS_OK);
    model_set(&pv, 7, t[7]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    /* The grandchild: its own layer over the child's new view. */
    model_copy(&gv, &cv);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);

    /* Replace: the map becomes the layer; a later snapshot equals it. */
    ctxs_map *m = ctxs_map_new(s);
    assoc_in_place(&m, 8, t[8]);
    assoc_in_place(&m, 9, t[9]);
    CHECK_EQ(ctxs_slot_replace(child, m), CTXS_OK);
    model_clear(&cv);
    model_set(&cv, 8, t[8]);
    model_set(&cv, 9, t[9]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(parent, 10, t[10]), CTXS_OK);
    model_set(&pv, 10, t[10]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    ctxs_map *snap = NULL;
    CHECK_EQ(ctxs_slot_snapshot(child, &snap), CTXS_OK);
    CHECK(snap != NULL && ctxs_map_same_shape(snap, m) == 1);
    ctxs_map_release(snap);
    ctxs_map_release(m);

    /* A fresh child over a parent with content: snapshot == parent's map. */
    ctxs_slot *fresh = ctxs_slot_create(s, NULL, parent);
    REQUIRE(fresh != NULL);
    SLOT_EQUALS(h, fresh, &pv, probes, np);
    ctxs_map *ps = NULL, *fs = NULL;
    CHECK_EQ(ctxs_slot_snapshot(parent, &ps), CTXS_OK);
    CHECK_EQ(ctxs_slot_snapshot(fresh, &fs), CTXS_OK);
    CHECK(ps != NULL && fs != NULL && ctxs_map_same_shape(ps, fs) == 1);
    ctxs_map_release(ps);
    ctxs_map_release(fs);
    ctxs_slot_release(fresh);

    /* The children keep their parents alive. */
    ctxs_slot_release(parent);
    CHECK_EQ(stats_of(s).live_slots, 3);
    CHECK_PTR_EQ(ctxs_slot_parent(child), parent);
    ctxs_slot_release(child);
    model_copy(&gv, &cv);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    ctxs_slot_release(grandchild);
    CHECK_EQ(stats_of(s).live_slots, 0);

    for (int i = 0; i < 32; i++) tv_drop(t[i]);
    model_free(&pv);
    model_free(&cv);
    model_free(&gv);
}

/* A chain of 64 slots. Level i sets 1000+i; every level i % 4 == 1 hides
 * its parent's key; level 32 overrides level 0's. */
#define CHAIN 64

static void chain_view(model *view, tracker **own, tracker *override, int cleared_level,
                       tracker *base_extra) {
    model_clear(view);
    for (int i = 0; i <= CHAIN; i++) {
        if (i == cleared_level) model_clear(view);
        if (i == 0 && base_extra != NULL) model_set(view, 5000, base_extra);
        if (i == cleared_level) continue; /* the cleared layer holds nothing */
        model_set(view, 1000 + (uint64_t)i, own[i]);
        if (i % 4 == 1) model_del(view, 1000 + (uint64_t)i - 1);
        if (i == 32) model_set(view, 1000, override);
    }
}

void test_slot_chain(harness *h) {
    ctxs_store *s = h->store;
    ctxs_slot *slots[CHAIN + 1];
    tracker *own[CHAIN + 1];
    tracker *override = tv_new(h, 5), *extra = tv_new(h, 6);
    uint64_t probes[CHAIN + 3];
    for (int i = 0; i <= CHAIN; i++) {
        own[i] = tv_new(h, 1000 + (uint64_t)i);
        probes[i] = 1000 + (uint64_t)i;
    }
    probes[CHAIN + 1] = 5000;
    probes[CHAIN + 2] = 1;
    for (int i = 0; i <= CHAIN; i++) {
        slots[i] = ctxs_slot_create(s, NULL, i ? slots[i - 1] : NULL);
        REQUIRE(slots[i] != NULL);
        CHECK_EQ(ctxs_slot_depth(slots[i]), i);
        CHECK_EQ(ctxs_slot_assoc(slots[i], 1000 + (uint64_t)i, own[i]), CTXS_OK);
        if (i % 4 == 1) CHECK_EQ(ctxs_slot_without(slots[i], 1000 + (uint64_t)i - 1), CTXS_OK);
        if (i == 32) CHECK_EQ(ctxs_slot_assoc(slots[i], 1000, override), CTXS_OK);
    }
    CHECK_EQ(stats_of(s).live_slots, CHAIN + 1);
    model view = {0};
    chain_view(&view, own, override, -1, NULL);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* A write at the bottom shows at the top. */
    CHECK_EQ(ctxs_slot_assoc(slots[0], 5000, extra), CTXS_OK);
    chain_view(&view, own, override, -1, extra);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* Clearing level 10 cuts off levels 0..10 for everyone above. */
    CHECK_EQ(ctxs_slot_clear(slots[10]), CTXS_OK);
    chain_view(&view, own, override, 10, extra);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* Release bottom-up: each child keeps its parent. */
    for (int i = 0; i <= CHAIN; i++) {
        ctxs_slot_release(slots[i]);
        if (i == CHAIN / 2) SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);
    }
    CHECK_EQ(stats_of(s).live_slots, 0);
    model_free(&view);
    for (int i = 0; i <= CHAIN; i++) tv_drop(own[i]);
    tv_drop(override);
    tv_drop(extra);
}
