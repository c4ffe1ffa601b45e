/* check.c: failure counting and reporting for check.h. */
#include "check.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* Failures printed per test; later ones are only counted. */
#define CHECK_PRINT_LIMIT 25

const char *check_test_name = "-";
const char *check_backend_name = "-";

static _Atomic uint64_t failures;                              /* since check_begin */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER; /* one report at a time */

void check_begin(const char *test, const char *backend) {
    check_test_name = test;
    check_backend_name = backend;
    atomic_store(&failures, 0);
}

uint64_t check_failures(void) { return atomic_load(&failures); }

static void report_failure(const char *file, int line, const char *fmt, va_list args) {
    uint64_t n = atomic_fetch_add(&failures, 1) + 1;
    if (n > CHECK_PRINT_LIMIT) return;
    pthread_mutex_lock(&print_lock);
    printf("%s:%d: FAIL [%s/%s] ", file, line, check_backend_name, check_test_name);
    vprintf(fmt, args);
    putchar('\n');
    if (n == CHECK_PRINT_LIMIT)
        printf("    (later failures of this test are counted, not printed)\n");
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

bool check_report(const char *file, int line, bool ok, const char *fmt, ...) {
    if (ok) return true;
    va_list args;
    va_start(args, fmt);
    report_failure(file, line, fmt, args);
    va_end(args);
    return false;
}

bool check_eq_i64(const char *file, int line, const char *a_text, const char *b_text, int64_t a,
                  int64_t b) {
    if (a == b) return true;
    return check_report(file, line, false, "%s == %s: %lld (0x%llx) != %lld (0x%llx)", a_text,
                        b_text, (long long)a, (unsigned long long)a, (long long)b,
                        (unsigned long long)b);
}

bool check_eq_ptr(const char *file, int line, const char *a_text, const char *b_text, const void *a,
                  const void *b) {
    if (a == b) return true;
    return check_report(file, line, false, "%s == %s: %p != %p", a_text, b_text, a, b);
}
