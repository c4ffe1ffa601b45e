/*
 * compiler.h: branch hints and the POPCNT clones of the hot paths. The
 * bottom of the core: every other header includes it, it includes nothing
 * of the core.
 */
#ifndef CTXS_COMPILER_H
#define CTXS_COMPILER_H

#define CTXS_LIKELY(x) __builtin_expect(!!(x), 1)
#define CTXS_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* For a helper of a CTXS_HOT function: a call out of a popcnt clone would
 * land in code built without popcnt. */
#define CTXS_INLINE static inline __attribute__((always_inline))

/* Hot paths are built twice, with and without the POPCNT instruction, and
 * the loader picks one (an ifunc): the trie counts bits at every level, and
 * baseline x86-64 has no POPCNT, so the portable build would spend ~15
 * instructions per count. SwiftPM forbids per-target -m flags in a package
 * others depend on, so this is done per function. A static inline helper
 * called from a CTXS_HOT function is compiled into each clone. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CTXS_NO_CLONES 1 /* TSan's runtime is not up when ifunc resolvers run */
#endif
#endif
#if defined(__x86_64__) && !defined(__POPCNT__) && defined(__ELF__) && !defined(CTXS_NO_CLONES)
#define CTXS_HOT __attribute__((target_clones("popcnt", "default")))
#else
#define CTXS_HOT
#endif

#endif /* CTXS_COMPILER_H */
