/* check.h - the tiny test harness shared by every C test program.
 *
 * A test is `static void name(void)` using CHECK/CHECK_CLOSE; RUN(name) runs it
 * and prints "PASS name" or "FAIL name". TEST_MAIN_END returns non-zero if any
 * test failed, so a test program always fails loudly. tests/run.sh counts the
 * PASS/FAIL lines of every program.
 */
#ifndef DEEPSIGNS_TEST_CHECK_H
#define DEEPSIGNS_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures_in_test;
static int check_tests_failed;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            check_failures_in_test++;                                                 \
        }                                                                             \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol, what)                                           \
    do {                                                                              \
        double check_a_ = (a), check_b_ = (b);                                        \
        CHECK(fabs(check_a_ - check_b_) <= (atol) + (rtol) * fabs(check_b_),          \
              "%s: %.9g vs %.9g (atol %g, rtol %g)", (what), check_a_, check_b_,     \
              (double)(atol), (double)(rtol));                                        \
    } while (0)

/* CHECK that a ds_status call succeeded, printing the error message if not. */
#define CHECK_OK(call, errp)                                                          \
    do {                                                                              \
        ds_status check_st_ = (call);                                                 \
        CHECK(check_st_ == DS_OK, "%s -> %s: %s", #call, ds_status_name(check_st_),   \
              (errp)->msg);                                                           \
    } while (0)

#define RUN(name)                                                                     \
    do {                                                                              \
        check_failures_in_test = 0;                                                   \
        name();                                                                       \
        printf("%s %s\n", check_failures_in_test ? "FAIL" : "PASS", #name);           \
        fflush(stdout);                                                               \
        if (check_failures_in_test) check_tests_failed++;                             \
    } while (0)

#define TEST_MAIN_END() return check_tests_failed ? 1 : 0

#endif
