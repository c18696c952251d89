/* testutil.h - fixture helpers shared by the C test programs; include it after
 * check.h (failures are reported with CHECK).
 *
 * The fixture directory: every fixture of a program lives below tu_root.
 *   tu_root_create(name)   make the mkdtemp directory /tmp/ds-test-<name>-XXXXXX;
 *                          0, or -1 after perror (main then returns 1)
 *   tu_root_remove()       remove it and everything below it, last thing in main;
 *                          anything left behind fails the program
 *   tu_path(buf, name)     "<tu_root>/<name>" into buf[TU_PATH_LEN]
 *   tu_rm_tree(path)       remove a file or a directory tree (even a directory
 *                          made unwritable), CHECKing every removal
 * Files:
 *   tu_read_file(path)     the whole file as tu_bytes (free .b; .b is NULL and .n
 *                          is 0 if it cannot be opened); CHECKs every step
 *   tu_write_file(path, buf, n)   create or truncate path and write buf[0..n)
 *   tu_same_bytes(a, b)    1 if both were read and are equal byte for byte
 *   tu_count_entries(dir)  entries of dir but . and .. (a temporary file left
 *                          behind shows up here); -1 and a CHECK failure if
 *                          dir cannot be read
 *   tu_file_mode(path)     permission bits of path, 01000 if stat fails
 * A disk that fills midway:
 *   tu_fsize_limit(bytes)  cap the size of files this process writes
 *                          (RLIMIT_FSIZE) with SIGXFSZ ignored, so a write past
 *                          the cap fails with EFBIG instead of killing the test
 *   tu_fsize_restore()     restore the limit and the signal handler saved by the
 *                          last tu_fsize_limit
 *
 * Everything is static inline: a program need not use every helper.
 */
#ifndef DEEPSIGNS_TEST_TESTUTIL_H
#define DEEPSIGNS_TEST_TESTUTIL_H

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TU_PATH_LEN = 512 };

static char tu_root[64]; /* the mkdtemp directory of the program */

/* ---------------------------------------------------------------- the fixture directory */

static inline int tu_root_create(const char *name)
{
    snprintf(tu_root, sizeof tu_root, "/tmp/ds-test-%s-XXXXXX", name);
    if (!mkdtemp(tu_root)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

static inline void tu_path(char *buf, const char *name)
{
    snprintf(buf, TU_PATH_LEN, "%s/%s", tu_root, name);
}

static inline void tu_rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        (void)chmod(path, 0700);
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            int len = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            int fits = len > 0 && (size_t)len < sizeof sub;
            CHECK(fits, "path too long: %s/%s", path, e->d_name);
            if (fits) tu_rm_tree(sub);
        }
        if (d) closedir(d);
        CHECK(rmdir(path) == 0, "rmdir %s", path);
    } else {
        CHECK(unlink(path) == 0, "unlink %s", path);
    }
}

static inline void tu_root_remove(void)
{
    check_failures_in_test = 0;
    tu_rm_tree(tu_root);
    if (check_failures_in_test) {
        fprintf(stderr, "could not remove %s\n", tu_root);
        check_tests_failed++;
    }
}

/* ---------------------------------------------------------------- files */

typedef struct tu_bytes {
    unsigned char *b;
    size_t n;
} tu_bytes;

static inline tu_bytes tu_read_file(const char *path)
{
    tu_bytes r = {NULL, 0};
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "fopen %s", path);
    if (!f) return r;
    CHECK(fseek(f, 0, SEEK_END) == 0, "fseek %s", path);
    long len = ftell(f);
    rewind(f);
    r.n = len > 0 ? (size_t)len : 0;
    r.b = malloc(r.n ? r.n : 1);
    CHECK(r.b && fread(r.b, 1, r.n, f) == r.n, "fread %s", path);
    fclose(f);
    return r;
}

static inline void tu_write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "fopen %s", path);
    if (!f) return;
    CHECK(n == 0 || fwrite(buf, 1, n, f) == n, "fwrite %s", path);
    CHECK(fclose(f) == 0, "fclose %s", path);
}

static inline int tu_same_bytes(tu_bytes a, tu_bytes b)
{
    return a.n == b.n && a.b && b.b && !memcmp(a.b, b.b, a.n);
}

static inline int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static inline unsigned tu_file_mode(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 0777) : 01000;
}

/* ---------------------------------------------------------------- a disk that fills midway */

static struct rlimit tu_fsize_saved;   /* what tu_fsize_limit replaced */
static void (*tu_xfsz_saved)(int);

static inline void tu_fsize_limit(rlim_t bytes)
{
    CHECK(getrlimit(RLIMIT_FSIZE, &tu_fsize_saved) == 0, "getrlimit");
    struct rlimit lim = tu_fsize_saved;
    lim.rlim_cur = bytes;
    tu_xfsz_saved = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
}

static inline void tu_fsize_restore(void)
{
    CHECK(setrlimit(RLIMIT_FSIZE, &tu_fsize_saved) == 0, "restore rlimit");
    signal(SIGXFSZ, tu_xfsz_saved);
}

#endif
