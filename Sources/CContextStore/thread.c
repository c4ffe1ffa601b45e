/*
 * Thread contexts: one plain slot per (store, thread), made on first use and
 * released by a pthread key destructor when the thread exits. This is what
 * code outside any task and outside any scope reads and writes, like
 * Python's threading.local.
 */
#include "internal.h"

void *_Atomic ctxs_swift_binding_key = NULL;

__thread unsigned ctxs_thread_releasing = 0;

int ctxs_thread_in_release(void) { return ctxs_thread_releasing != 0; }

void ctxs_thread_slot_destructor(void *slot) { ctxs_slot_release(slot); }

ctxs_slot *ctxs_thread_slot(ctxs_store *store) {
    if (ctxs_thread_releasing != 0) return NULL; /* hidden: see internal.h */
    ctxs_slot *slot = pthread_getspecific(store->thread_key);
    if (slot != NULL) return slot;
    slot = ctxs_slot_create(store, NULL, NULL);
    if (slot == NULL) return NULL;
    if (pthread_setspecific(store->thread_key, slot) != 0) {
        ctxs_slot_release(slot);
        return NULL;
    }
    return slot;
}

ctxs_slot *ctxs_thread_slot_peek(ctxs_store *store) {
    if (ctxs_thread_releasing != 0) return NULL;
    return pthread_getspecific(store->thread_key);
}

void ctxs_thread_slot_drop(ctxs_store *store) {
    ctxs_slot *slot = pthread_getspecific(store->thread_key);
    if (slot == NULL) return;
    (void)pthread_setspecific(store->thread_key, NULL);
    ctxs_slot_release(slot);
}
