/*
 * check.h: the assertion macros of the pure-C harness.
 *
 * A check never aborts: it records a failure (printed as file:line with the
 * backend and test being run) and returns false, so a test can decide to go
 * on or to stop. Checks may be called from any thread.
 *
 *   CHECK(cond)                  fails when cond is 0
 *   CHECKF(cond, fmt, ...)       the same, with a printf-style message
 *   CHECK_EQ(a, b)               integers, printed in decimal and hex
 *   CHECK_PTR_EQ(a, b)           pointers
 *   REQUIRE(cond)                CHECK, and return from the (void) test if it fails
 */
#ifndef CTXS_TEST_CHECK_H
#define CTXS_TEST_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The test being run: written by the runner between tests, read by checks. */
extern const char *check_test_name;
extern const char *check_backend_name;

/* Starts counting the failures of one test. */
void check_begin(const char *test, const char *backend);

/* The number of failed checks since check_begin. */
uint64_t check_failures(void);

/* Records one check; prints it when it failed. Returns ok. */
bool check_report(const char *file, int line, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

bool check_eq_i64(const char *file, int line, const char *a_text, const char *b_text, int64_t a,
                  int64_t b);

bool check_eq_ptr(const char *file, int line, const char *a_text, const char *b_text, const void *a,
                  const void *b);

#define CHECK(cond) check_report(__FILE__, __LINE__, (cond) != 0, "%s", #cond)
#define CHECKF(cond, ...) check_report(__FILE__, __LINE__, (cond) != 0, __VA_ARGS__)
#define CHECK_EQ(a, b) check_eq_i64(__FILE__, __LINE__, #a, #b, (int64_t)(a), (int64_t)(b))
#define CHECK_PTR_EQ(a, b) check_eq_ptr(__FILE__, __LINE__, #a, #b, (a), (b))
#define REQUIRE(cond)             \
    do {                          \
        if (!CHECK(cond)) return; \
    } while (0)

#endif /* CTXS_TEST_CHECK_H */
