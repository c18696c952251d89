/* test_untrusted.c - the trial parse in a child process (src/io/untrusted.c):
 * a parse that returns lets the caller go on and leaves the caller's memory as
 * it was; one that crashes (abort), ends the process with a status of its own
 * (as a sanitizer does) or loops past the limit becomes a clear refusal naming
 * the file; ds_io_read_whole reads every byte and refuses what is not a
 * regular file. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/untrusted.h"
#include "testutil.h"

typedef struct {
    int *seen;        /* written by the trial: must stay unchanged in the parent */
    int how;          /* 0 return, 1 abort, 2 _exit(1), 3 loop */
} trial_ctx;

static void trial(void *ctx)
{
    trial_ctx *t = ctx;
    *t->seen = 1000 + t->how;
    if (t->how == 1) abort();
    if (t->how == 2) _exit(1);
    if (t->how == 3)
        for (;;) pause();
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_returning_parse(void)
{
    int seen = -1;
    trial_ctx t = {&seen, 0};
    ds_err err = {0};
    CHECK_OK(ds_io_trial_parse("x.h5", "model", trial, &t, 10, &err), &err);
    CHECK(seen == -1, "the child's writes reached the parent: %d", seen);
}

static void test_crashing_parse(void)
{
    int seen = -1;
    static const struct { int how; const char *want; } cases[] = {
        {1, "evil.h5: reading this key file crashed the reader (signal 6, Aborted): the file is "
            "damaged or crafted to attack its reader (HDF5 1.10 crashes on some such files); refusing it"},
        {2, "evil.h5: reading this key file ended abnormally (the reading process exited with status "
            "1): the file is damaged or crafted to attack its reader; refusing it"},
        {3, "evil.h5: reading this key file did not finish in 0.3 s (the HDF5 library is looping on "
            "damaged or crafted content); refusing it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trial_ctx t = {&seen, cases[i].how};
        ds_err err = {0};
        /* only the looping case needs a short limit; the others end at once */
        double limit = cases[i].how == 3 ? 0.3 : 30.0;
        ds_status st = ds_io_trial_parse("evil.h5", "key", trial, &t, limit, &err);
        CHECK(st == DS_EFORMAT, "case %d: %s", cases[i].how, ds_status_name(st));
        CHECK(!strcmp(err.msg, cases[i].want), "case %d: message: %s", cases[i].how, err.msg);
    }
}

static void test_read_whole(void)
{
    char path[TU_PATH_LEN];
    tu_path(path, "whole.bin");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "fopen %s", path);
    if (!f) return;
    for (int i = 0; i < 100000; i++) fputc(i * 7 & 0xff, f);
    fclose(f);
    void *buf = NULL;
    size_t n = 0;
    ds_err err = {0};
    CHECK_OK(ds_io_read_whole(path, &buf, &n, &err), &err);
    int same = n == 100000;
    for (size_t i = 0; same && i < n; i++) same = ((unsigned char *)buf)[i] == (unsigned char)(i * 7 & 0xff);
    CHECK(same, "read %zu bytes, content differs", n);
    free(buf);
    char dir[TU_PATH_LEN];
    tu_path(dir, "");
    CHECK(ds_io_read_whole(dir, &buf, &n, &err) == DS_EIO && contains(err.msg, "not a regular file") &&
              buf == NULL, "a directory: %s", err.msg);
    tu_path(path, "missing.bin");
    CHECK(ds_io_read_whole(path, &buf, &n, &err) == DS_EIO &&
              contains(err.msg, "missing.bin: cannot open: No such file or directory"), "missing: %s", err.msg);
}

int main(void)
{
    if (tu_root_create("untrusted") != 0) return 1;
    RUN(test_returning_parse);
    RUN(test_crashing_parse);
    RUN(test_read_whole);
    tu_root_remove();
    TEST_MAIN_END();
}
