/*
 * main.c: the runner of the pure-C harness (see harness.h).
 *
 * Usage:  test_core [FILTER...]   runs the tests whose name contains one of
 *         the FILTERs (all when none is given) and none of the -FILTERs.
 * Output: one PASS/FAIL line per test and backend, every failed check as
 * file:line, and last the line "N passed, N failed". Exit status 1 when a
 * test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define HAVE_SANITIZER_DEATH_CALLBACK 1
#endif
#endif

/* Seconds one test may take (per backend) before the harness gives up. */
#define TEST_TIMEOUT_SECONDS 900
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

typedef void (*test_fn)(harness *h);

static const struct {
    const char *name;
    test_fn fn;
} tests[] = {
    {"store_basics", test_store_basics},
    {"persistence", test_persistence},
    {"shape", test_shape},
    {"model", test_model},
    {"slot_model", test_slot_model},
    {"slot_pending", test_slot_pending},
    {"slot_copy_failure", test_slot_copy_failure},
    {"slot_borrow", test_slot_borrow},
    {"refcount", test_refcount},
    {"alloc_failure", test_alloc_failure},
    {"slots_plain", test_slots_plain},
    {"slot_untouched", test_slot_untouched},
    {"slot_borrowed", test_slot_borrowed},
    {"slot_contended_read", test_slot_contended_read},
    {"slots_chained", test_slots_chained},
    {"slot_chain_64", test_slot_chain},
    {"interning", test_interning},
    {"intern_cache", test_intern_cache},
    {"threads_slot", test_threads_slot},
    {"threads_fork", test_threads_fork},
    {"threads_untouched", test_threads_untouched},
    {"threads_intern", test_threads_intern},
    {"in_place", test_in_place},
    {"spares", test_spares},
    {"spare_borrowing", test_spare_borrowing},
    {"jemalloc_reuse", test_jemalloc_reuse},
};

/* The run so far, for a summary line even when a sanitizer ends the process. */
static int run_passed, run_failed;
static const char *run_current; /* "backend/test" being run, or NULL */
static char run_current_name[96];
static bool run_summary_printed;

#ifdef HAVE_SANITIZER_DEATH_CALLBACK
/* A sanitizer error (halt_on_error) ends the process: blame the running test
 * and still print the summary line. */
static void on_sanitizer_death(void) {
    if (run_summary_printed) return; /* LeakSanitizer at exit, after the summary */
    if (run_current != NULL)
        printf("FAIL %s (sanitizer error, report on stderr; the run stops here)\n", run_current);
    printf("%d passed, %d failed\n", run_passed, run_failed + (run_current != NULL));
    fflush(stdout);
}
#endif

static void on_timeout(int signal_number) {
    (void)signal_number;
    static const char message[] = "\ntest_core: TIMEOUT: a test ran longer than " STRINGIFY(
        TEST_TIMEOUT_SECONDS) " s (a deadlock?)\n";
    ssize_t ignored = write(STDOUT_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(3);
}

/* Runs one test on a fresh store, then checks that it left nothing behind. */
static bool run_test(size_t t, ctxs_backend backend, const char *backend_name) {
    harness h;
    memset(&h, 0, sizeof h);
    h.backend = backend;
    h.options.retain = value_retain;
    h.options.release = value_release;
    h.options.context = &h.ledger;
    h.options.backend = backend;
    check_begin(tests[t].name, backend_name);
    snprintf(run_current_name, sizeof run_current_name, "%s/%s", backend_name, tests[t].name);
    run_current = run_current_name;
    double start = now_seconds();
    alarm(TEST_TIMEOUT_SECONDS);

    h.store = ctxs_store_create(&h.options);
    if (CHECK(h.store != NULL)) {
        tests[t].fn(&h);
        ctxs_statistics st = stats_of(h.store);
        CHECK_EQ(st.live_roots, 0);
        CHECK_EQ(st.live_nodes, 0);
        CHECK_EQ(st.live_values, 0);
        CHECK_EQ(st.live_slots, 0);
        CHECK_EQ(atomic_load(&h.ledger.retains), atomic_load(&h.ledger.releases));
        CHECKF(atomic_load(&h.ledger.live) == 0, "%lld values still alive",
               (long long)atomic_load(&h.ledger.live));
        CHECK_EQ(ctxs_store_destroy(h.store), CTXS_OK);
    }
#ifdef HAVE_LSAN
    /* LeakSanitizer reports old leaks again at every check, so only the
     * first test that leaks is blamed; the check at exit still fails the run. */
    static bool leaked;
    if (!leaked && __lsan_do_recoverable_leak_check() != 0) {
        leaked = true;
        CHECKF(false, "LeakSanitizer found leaks (report on stderr); later tests are not "
                      "leak-checked one by one");
    }
#endif
    alarm(0);
    bool passed = check_failures() == 0;
    run_current = NULL;
    printf("%s %s/%s (%.2f s)\n", passed ? "PASS" : "FAIL", backend_name, tests[t].name,
           now_seconds() - start);
    return passed;
}

/* Whether the arguments select a test: a name matches FILTER by substring. */
static bool selected(const char *name, int argc, char **argv) {
    bool any_positive = false, positive_match = false;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strstr(name, argv[i] + 1) != NULL) return false;
        } else {
            any_positive = true;
            positive_match |= strstr(name, argv[i]) != NULL;
        }
    }
    return !any_positive || positive_match;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_timeout);
#ifdef HAVE_SANITIZER_DEATH_CALLBACK
    __sanitizer_set_death_callback(on_sanitizer_death);
#endif

    const struct {
        ctxs_backend backend;
        const char *name;
    } backends[] = {
        {CTXS_BACKEND_ARENA, "arena"},
        {CTXS_BACKEND_MALLOC, "malloc"},
        {CTXS_BACKEND_JEMALLOC, "jemalloc"},
    };
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        if (backends[b].backend == CTXS_BACKEND_JEMALLOC && !ctxs_have_jemalloc()) {
            printf("(jemalloc backend not built in: skipped)\n");
            continue;
        }
        for (size_t t = 0; t < sizeof tests / sizeof *tests; t++) {
            if (!selected(tests[t].name, argc - 1, argv + 1)) continue;
            if (run_test(t, backends[b].backend, backends[b].name))
                run_passed++;
            else
                run_failed++;
        }
    }
    printf("%d passed, %d failed\n", run_passed, run_failed);
    fflush(stdout);
    run_summary_printed = true;
    return run_failed ? 1 : 0;
}
