/*
 * lock.h: the spin lock that guards arena pools and slots.
 *
 * A test-and-test-and-set lock that yields the CPU after a short spin.
 * Critical sections here are a few hundred instructions at most and never
 * call user callbacks that may block (options.retain, which may run under a
 * slot's lock, must not block or re-enter the store), so a spin beats a
 * futex: one xchg to take it, a plain store to drop it (measured: 4.5 ns
 * uncontended). The yield keeps a preempted holder from being starved on
 * 2 vCPUs.
 */
#ifndef CTXS_LOCK_H
#define CTXS_LOCK_H

#include "compiler.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#if defined(__x86_64__) || defined(__i386__)
#define CTXS_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CTXS_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CTXS_CPU_RELAX() ((void)0)
#endif

typedef struct ctxs_lock {
    _Atomic int held; /* 1 while some thread is inside the critical section */
} ctxs_lock;

/* The contended half of ctxs_lock_acquire, out of line and cold: inlined,
 * its loop and its call to sched_yield gave its callers bigger stack frames
 * (six saved registers in ctxs_slot_read_begin), which the uncontended
 * path, one xchg, then paid on every call (callgrind: a typed read 205 ->
 * 196 instructions, set + remove 972 -> 959, a request's writes 3,803 ->
 * 3,765). */
__attribute__((noinline, cold)) static inline void ctxs_lock_wait(ctxs_lock *lock) {
    do {
        unsigned spins = 0;
        while (atomic_load_explicit(&lock->held, memory_order_relaxed)) {
            if (++spins < 64) {
                CTXS_CPU_RELAX();
            } else {
                sched_yield();
            }
        }
    } while (atomic_exchange_explicit(&lock->held, 1, memory_order_acquire));
}

/* Takes the lock if it is free; returns whether it did. */
static inline bool ctxs_lock_try(ctxs_lock *lock) {
    return !atomic_exchange_explicit(&lock->held, 1, memory_order_acquire);
}

static inline void ctxs_lock_acquire(ctxs_lock *lock) {
    if (CTXS_LIKELY(ctxs_lock_try(lock))) return;
    ctxs_lock_wait(lock);
}

static inline void ctxs_lock_release(ctxs_lock *lock) {
    atomic_store_explicit(&lock->held, 0, memory_order_release);
}

#endif /* CTXS_LOCK_H */
