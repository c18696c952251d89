/* test_data.c - IDX / CIFAR-10 loaders, directory detection, splits, batches
 * and augmentation. Writes its own fixtures (raw and gzipped) into a mkdtemp
 * directory under /tmp; also loads the installed Fashion-MNIST if present.
 */
#include "deepsigns/data.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "testutil.h"

/* ---------------------------------------------------------------- fixtures */

/* A fresh subdirectory of tu_root; returns its path in a static slot table. */
static const char *fixture_dir(const char *name)
{
    static char dirs[32][256];
    static int used;
    char *d = dirs[used++ % 32];
    snprintf(d, 256, "%s/%s", tu_root, name);
    CHECK(mkdir(d, 0700) == 0, "mkdir %s", d);
    return d;
}

static const char *path_in(const char *dir, const char *name)
{
    static char paths[16][512];
    static int used;
    char *p = paths[used++ % 16];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Write buf[0..len) to path, gzipped when gz. */
static void write_bytes(const char *path, const void *buf, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CHECK(f != NULL, "gzopen %s", path);
        if (!f) return;
        CHECK(len == 0 || gzwrite(f, buf, (unsigned)len) == (int)len, "gzwrite %s", path);
        CHECK(gzclose(f) == Z_OK, "gzclose %s", path);
    } else {
        tu_write_file(path, buf, len);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint8_t pixel_of(size_t i, size_t y, size_t x) { return (uint8_t)(i * 31 + y * 7 + x * 3 + 1); }
static uint8_t label_of(size_t i) { return (uint8_t)((i * 3) % 10); }

enum { MAXBUF = 1 << 16 };
typedef struct { uint8_t b[MAXBUF]; size_t len; } buf_t;

/* An IDX image file: header + n images of rows x cols with pixel_of(). */
static void make_images(buf_t *b, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols)
{
    put_be32(b->b, magic); put_be32(b->b + 4, n); put_be32(b->b + 8, rows); put_be32(b->b + 12, cols);
    b->len = 16;
    for (size_t i = 0; i < n; i++)
        for (size_t y = 0; y < rows; y++)
            for (size_t x = 0; x < cols; x++) b->b[b->len++] = pixel_of(i, y, x);
}

static void make_labels(buf_t *b, uint32_t n)
{
    put_be32(b->b, 0x00000801); put_be32(b->b + 4, n);
    b->len = 8;
    for (size_t i = 0; i < n; i++) b->b[b->len++] = label_of(i);
}

/* Write images (n x 3 x 4) and labels for an IDX pair into dir; returns nothing, names fixed. */
static void write_idx_pair(const char *dir, const char *img, const char *lab, uint32_t n, int gz)
{
    static buf_t b;
    make_images(&b, 0x00000803, n, 3, 4);
    write_bytes(path_in(dir, img), b.b, b.len, gz);
    make_labels(&b, n);
    write_bytes(path_in(dir, lab), b.b, b.len, gz);
}

/* A CIFAR-10 file of n records, record r of file `file` has label label_of(file*100+r). */
static void write_cifar(const char *path, size_t n, int file)
{
    static uint8_t rec[8 * 3073];
    for (size_t r = 0; r < n; r++) {
        uint8_t *p = rec + r * 3073;
        p[0] = label_of((size_t)file * 100 + r);
        for (size_t k = 0; k < 3072; k++) p[1 + k] = pixel_of((size_t)file * 100 + r, k / 32, k % 32);
    }
    write_bytes(path, rec, n * 3073, 0);
}

/* st must be `code` and err->msg must contain every non-NULL needle.
 * DS_TEST_VERBOSE=1 prints each message, to read them. */
static void check_err(ds_status st, ds_status code, const ds_err *err, const char *n1,
                      const char *n2, const char *n3)
{
    if (getenv("DS_TEST_VERBOSE")) printf("  [%s] %s\n", ds_status_name(st), err->msg);
    CHECK(st == code, "status %s, expected %s (msg: %s)", ds_status_name(st), ds_status_name(code),
          err->msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i]) CHECK(strstr(err->msg, needles[i]) != NULL, "message \"%s\" lacks \"%s\"",
                              err->msg, needles[i]);
}

/* st must be `code` and err->msg exactly the printf-formatted message. */
static void check_msg(ds_status st, ds_status code, const ds_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_msg(ds_status st, ds_status code, const ds_err *err, const char *fmt, ...)
{
    char want[DS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    CHECK(st == code, "status %s, expected %s (msg: %s)", ds_status_name(st), ds_status_name(code),
          err->msg);
    CHECK(!strcmp(err->msg, want), "message\n  \"%s\"\nexpected\n  \"%s\"", err->msg, want);
}

static int dataset_is_zero(const ds_dataset *d)
{
    return d->n == 0 && d->x == NULL && d->y == NULL && d->owns == 0;
}

/* ------------------------------------------------------------------- IDX */

static void check_idx_content(const ds_dataset *d, size_t n)
{
    CHECK(d->n == n && d->c == 1 && d->h == 3 && d->w == 4 && d->num_classes == 10,
          "shape n=%zu c=%d h=%d w=%d k=%d", d->n, d->c, d->h, d->w, d->num_classes);
    if (d->n != n || d->h != 3 || d->w != 4) return;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += d->y[i] != label_of(i);
        for (size_t y = 0; y < 3; y++)
            for (size_t x = 0; x < 4; x++) bad += d->x[(i * 3 + y) * 4 + x] != pixel_of(i, y, x);
    }
    CHECK(bad == 0, "%zu wrong pixels/labels", bad);
}

static void test_idx_roundtrip_raw_and_gz(void)
{
    const char *dir = fixture_dir("idx_rt");
    ds_err err = {0};
    for (int gz = 0; gz < 2; gz++) {
        const char *img = gz ? "i.gz" : "i", *lab = gz ? "l.gz" : "l";
        write_idx_pair(dir, img, lab, 7, gz);
        ds_dataset d;
        CHECK_OK(ds_idx_load(path_in(dir, img), path_in(dir, lab), 10, &d, &err), &err);
        check_idx_content(&d, 7);
        CHECK(d.owns == 1, "owns");
        ds_dataset_free(&d);
        CHECK(dataset_is_zero(&d), "free zeroes");
    }
    /* mixed: raw images, gzipped labels */
    ds_dataset d;
    CHECK_OK(ds_idx_load(path_in(dir, "i"), path_in(dir, "l.gz"), 10, &d, &err), &err);
    check_idx_content(&d, 7);
    ds_dataset_free(&d);
    ds_dataset_free(NULL);
}

static void test_idx_bad_magic(void)
{
    const char *dir = fixture_dir("idx_magic");
    static buf_t b;
    ds_err err = {0};
    ds_dataset d;
    write_idx_pair(dir, "i", "l", 4, 0);
    make_images(&b, 0x12345678, 4, 3, 4);
    write_bytes(path_in(dir, "bad.gz"), b.b, b.len, 1);
    ds_status st = ds_idx_load(path_in(dir, "bad.gz"), path_in(dir, "l"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: bad magic 0x12345678 (expected 0x00000803 for an IDX image file)",
              path_in(dir, "bad.gz"));
    CHECK(dataset_is_zero(&d), "out zeroed on failure");
    /* image and label files swapped: a dimension-count fault */
    st = ds_idx_load(path_in(dir, "l"), path_in(dir, "i"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: bad magic 0x00000801 (expected 0x00000803 for an IDX image "
              "file; this is an IDX file with 1 dimension(s), not 3)", path_in(dir, "l"));
    /* labels with a bad magic */
    make_images(&b, 0x00000803, 4, 3, 4);
    write_bytes(path_in(dir, "l2"), b.b, b.len, 0);
    st = ds_idx_load(path_in(dir, "i"), path_in(dir, "l2"), 10, &d, &err);
    check_err(st, DS_EFORMAT, &err, path_in(dir, "l2"), "bad magic 0x00000803",
              "expected 0x00000801 for an IDX label file");
}

static void test_idx_truncated(void)
{
    const char *dir = fixture_dir("idx_trunc");
    static buf_t b;
    ds_err err = {0};
    ds_dataset d;
    write_idx_pair(dir, "i", "l", 5, 0);
    make_images(&b, 0x00000803, 5, 3, 4);
    for (int gz = 0; gz < 2; gz++) {
        const char *name = gz ? "t.gz" : "t";
        write_bytes(path_in(dir, name), b.b, b.len - 3, gz);
        ds_status st = ds_idx_load(path_in(dir, name), path_in(dir, "l"), 10, &d, &err);
        check_msg(st, DS_EFORMAT, &err, "%s: truncated: expected 60 bytes of pixel data, got 57 "
                  "(its header announces 5 images of 3x4)", path_in(dir, name));
    }
    /* a gzip stream cut in the middle */
    write_bytes(path_in(dir, "cut.gz"), b.b, b.len, 1);
    struct stat sb;
    CHECK(stat(path_in(dir, "cut.gz"), &sb) == 0, "stat");
    CHECK(truncate(path_in(dir, "cut.gz"), sb.st_size - 12) == 0, "truncate");
    ds_status st = ds_idx_load(path_in(dir, "cut.gz"), path_in(dir, "l"), 10, &d, &err);
    check_err(st, DS_EFORMAT, &err, "cut.gz", "truncated", NULL);
    /* header cut short */
    write_bytes(path_in(dir, "h"), b.b, 10, 0);
    st = ds_idx_load(path_in(dir, "h"), path_in(dir, "l"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: truncated: expected 12 bytes of header, got 6", path_in(dir, "h"));
    /* labels truncated */
    make_labels(&b, 5);
    write_bytes(path_in(dir, "lt"), b.b, b.len - 1, 0);
    st = ds_idx_load(path_in(dir, "i"), path_in(dir, "lt"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: truncated: expected 5 bytes of label data, got 4 "
              "(its header announces 5 labels)", path_in(dir, "lt"));
}

static void test_idx_trailing_bytes(void)
{
    const char *dir = fixture_dir("idx_trail");
    static buf_t b;
    ds_err err = {0};
    ds_dataset d;
    write_idx_pair(dir, "i", "l", 5, 0);
    make_images(&b, 0x00000803, 5, 3, 4);
    b.b[b.len++] = 9; b.b[b.len++] = 9;
    write_bytes(path_in(dir, "x.gz"), b.b, b.len, 1);
    ds_status st = ds_idx_load(path_in(dir, "x.gz"), path_in(dir, "l"), 10, &d, &err);
    check_err(st, DS_EFORMAT, &err, path_in(dir, "x.gz"), "trailing bytes: 2 after the 76 bytes", NULL);
    make_labels(&b, 5);
    b.b[b.len++] = 1;
    write_bytes(path_in(dir, "lx"), b.b, b.len, 0);
    st = ds_idx_load(path_in(dir, "i"), path_in(dir, "lx"), 10, &d, &err);
    check_err(st, DS_EFORMAT, &err, path_in(dir, "lx"), "trailing bytes: 1 after the 13 bytes", NULL);
}

static void test_idx_count_mismatch_and_labels(void)
{
    const char *dir = fixture_dir("idx_count");
    static buf_t b;
    ds_err err = {0};
    ds_dataset d;
    write_idx_pair(dir, "i", "l", 5, 0);
    make_labels(&b, 4);
    write_bytes(path_in(dir, "l4"), b.b, b.len, 0);
    ds_status st = ds_idx_load(path_in(dir, "i"), path_in(dir, "l4"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "count mismatch: %s has 5 images but %s has 4 labels",
              path_in(dir, "i"), path_in(dir, "l4"));

    make_labels(&b, 5);
    b.b[8 + 3] = 10;
    write_bytes(path_in(dir, "lbad"), b.b, b.len, 0);
    st = ds_idx_load(path_in(dir, "i"), path_in(dir, "lbad"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: label out of range at index 3: 10 (expected 0..9)",
              path_in(dir, "lbad"));
    /* the same labels are fine with 11 classes */
    CHECK_OK(ds_idx_load(path_in(dir, "i"), path_in(dir, "lbad"), 11, &d, &err), &err);
    CHECK(d.num_classes == 11 && d.y[3] == 10, "11 classes");
    ds_dataset_free(&d);
    st = ds_idx_load(path_in(dir, "i"), path_in(dir, "l"), 0, &d, &err);
    CHECK(st == DS_EINVAL, "num_classes 0 -> %s", ds_status_name(st));
}

static void test_idx_bad_dims_and_missing(void)
{
    const char *dir = fixture_dir("idx_dims");
    static buf_t b;
    ds_err err = {0};
    ds_dataset d;
    write_idx_pair(dir, "i", "l", 2, 0);
    const uint32_t dims[][2] = {{0, 4}, {3, 0}, {5000, 4}, {4, 4097}};
    for (int k = 0; k < 4; k++) {
        make_images(&b, 0x00000803, 2, 1, 1);
        put_be32(b.b + 8, dims[k][0]);
        put_be32(b.b + 12, dims[k][1]);
        write_bytes(path_in(dir, "bd"), b.b, b.len, 0);
        ds_status st = ds_idx_load(path_in(dir, "bd"), path_in(dir, "l"), 10, &d, &err);
        check_msg(st, DS_EFORMAT, &err, "%s: bad image size %ux%u (rows and cols must be 1..4096)",
                  path_in(dir, "bd"), dims[k][0], dims[k][1]);
    }
    /* a header announcing 0 images */
    make_images(&b, 0x00000803, 0, 3, 4);
    write_bytes(path_in(dir, "zero"), b.b, b.len, 0);
    ds_status st = ds_idx_load(path_in(dir, "zero"), path_in(dir, "l"), 10, &d, &err);
    check_err(st, DS_EFORMAT, &err, path_in(dir, "zero"), "0 images", NULL);
    /* a huge announced count fails as truncated, without a huge allocation */
    make_images(&b, 0x00000803, 2, 3, 4);
    put_be32(b.b + 4, 0xFFFFFFFFu); put_be32(b.b + 8, 4096); put_be32(b.b + 12, 4096);
    write_bytes(path_in(dir, "huge"), b.b, b.len, 0);
    make_labels(&b, 2);
    put_be32(b.b + 4, 0xFFFFFFFFu);
    write_bytes(path_in(dir, "hugel"), b.b, b.len, 0);
    st = ds_idx_load(path_in(dir, "huge"), path_in(dir, "hugel"), 10, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: truncated: expected 72057594021150720 bytes of pixel data, "
              "got 24 (its header announces 4294967295 images of 4096x4096)", path_in(dir, "huge"));
    /* a missing file */
    st = ds_idx_load(path_in(dir, "nope"), path_in(dir, "l"), 10, &d, &err);
    check_err(st, DS_EIO, &err, path_in(dir, "nope"), "cannot open", NULL);
}

/* ---------------------------------------------------------------- CIFAR-10 */

static void test_cifar_roundtrip(void)
{
    const char *dir = fixture_dir("cifar_rt");
    ds_err err = {0};
    ds_dataset d;
    write_cifar(path_in(dir, "a.bin"), 3, 0);
    write_cifar(path_in(dir, "b.bin"), 2, 1);
    const char *paths[2] = {path_in(dir, "a.bin"), path_in(dir, "b.bin")};
    CHECK_OK(ds_cifar10_load(paths, 2, &d, &err), &err);
    CHECK(d.n == 5 && d.c == 3 && d.h == 32 && d.w == 32 && d.num_classes == 10 && d.owns,
          "shape n=%zu c=%d h=%d w=%d", d.n, d.c, d.h, d.w);
    size_t bad = 0;
    for (size_t i = 0; i < d.n && d.n == 5; i++) {
        size_t id = i < 3 ? i : 100 + (i - 3);
        bad += d.y[i] != label_of(id);
        for (size_t k = 0; k < 3072; k++) bad += d.x[i * 3072 + k] != pixel_of(id, k / 32, k % 32);
    }
    CHECK(bad == 0, "%zu wrong bytes", bad);
    ds_dataset_free(&d);
}

static void test_cifar_errors(void)
{
    const char *dir = fixture_dir("cifar_bad");
    ds_err err = {0};
    ds_dataset d;
    static uint8_t junk[2 * 3073 + 5];
    write_cifar(path_in(dir, "ok.bin"), 2, 0);
    write_bytes(path_in(dir, "odd.bin"), junk, sizeof junk, 0);
    write_bytes(path_in(dir, "empty.bin"), junk, 0, 0);
    const char *p1[2] = {path_in(dir, "ok.bin"), path_in(dir, "odd.bin")};
    ds_status st = ds_cifar10_load(p1, 2, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: wrong size: 6151 bytes is not a multiple of 3073 (1 label "
              "byte + 3072 pixel bytes per CIFAR-10 record): 2 records and 5 bytes more; truncated, "
              "or not a CIFAR-10 binary batch", path_in(dir, "odd.bin"));
    CHECK(dataset_is_zero(&d), "out zeroed on failure");
    const char *p2[1] = {path_in(dir, "empty.bin")};
    st = ds_cifar10_load(p2, 1, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: wrong size: the file is empty (a CIFAR-10 batch holds "
              "records of 3073 bytes: 1 label byte + 3072 pixel bytes)", path_in(dir, "empty.bin"));
    junk[3073] = 10; /* label of record 1 */
    write_bytes(path_in(dir, "lab.bin"), junk, 2 * 3073, 0);
    const char *p3[1] = {path_in(dir, "lab.bin")};
    st = ds_cifar10_load(p3, 1, &d, &err);
    check_msg(st, DS_EFORMAT, &err, "%s: label out of range at record 1: 10 (expected 0..9)",
              path_in(dir, "lab.bin"));
    const char *p4[1] = {path_in(dir, "missing.bin")};
    st = ds_cifar10_load(p4, 1, &d, &err);
    check_err(st, DS_EIO, &err, path_in(dir, "missing.bin"), "cannot open", NULL);
    st = ds_cifar10_load(p4, 0, &d, &err);
    CHECK(st == DS_EINVAL, "npaths 0 -> %s", ds_status_name(st));
}

/* ---------------------------------------------------------- directories */

static void test_load_dir_idx(void)
{
    const char *dir = fixture_dir("dir_idx");
    ds_err err = {0};
    ds_dataset tr, te;
    write_idx_pair(dir, "train-images-idx3-ubyte.gz", "train-labels.idx1-ubyte", 7, 0);
    write_idx_pair(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz", 3, 1);
    /* the first pair was written raw under a .gz name: gzread reads raw data transparently */
    for (int f = 0; f < 2; f++) {
        CHECK_OK(ds_data_load_dir(dir, f ? DS_FORMAT_IDX : DS_FORMAT_AUTO, &tr, &te, &err), &err);
        check_idx_content(&tr, 7);
        check_idx_content(&te, 3);
        ds_dataset_free(&tr);
        ds_dataset_free(&te);
    }
    ds_status st = ds_data_load_dir(dir, DS_FORMAT_CIFAR10, &tr, &te, &err);
    check_err(st, DS_EIO, &err, dir, "data_batch_1.bin", NULL);
    CHECK(dataset_is_zero(&tr) && dataset_is_zero(&te), "outputs zeroed");
    CHECK(unlink(path_in(dir, "t10k-labels-idx1-ubyte.gz")) == 0, "unlink");
    st = ds_data_load_dir(dir, DS_FORMAT_AUTO, &tr, &te, &err);
    check_err(st, DS_EIO, &err, dir, "missing IDX file t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte");
    CHECK(dataset_is_zero(&tr) && dataset_is_zero(&te), "outputs zeroed");
}

static void test_load_dir_cifar(void)
{
    const char *dir = fixture_dir("dir_cifar");
    ds_err err = {0};
    ds_dataset tr, te;
    char name[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        write_cifar(path_in(dir, name), (size_t)i, i);
    }
    write_cifar(path_in(dir, "test_batch.bin"), 4, 9);
    CHECK_OK(ds_data_load_dir(dir, DS_FORMAT_AUTO, &tr, &te, &err), &err);
    CHECK(tr.n == 15 && te.n == 4 && tr.c == 3 && te.h == 32, "n %zu/%zu", tr.n, te.n);
    if (tr.n == 15 && te.n == 4) {
        CHECK(tr.y[1] == label_of(200) && tr.y[14] == label_of(504) && te.y[3] == label_of(903),
              "order of records");
        CHECK(tr.x[14 * 3072 + 5] == pixel_of(504, 0, 5), "pixel of last train record");
    }
    ds_dataset_free(&tr);
    ds_dataset_free(&te);
    CHECK(unlink(path_in(dir, "data_batch_3.bin")) == 0, "unlink");
    ds_status st = ds_data_load_dir(dir, DS_FORMAT_AUTO, &tr, &te, &err);
    check_err(st, DS_EIO, &err, dir, "missing CIFAR-10 file data_batch_3.bin", NULL);
}

static void test_load_dir_missing(void)
{
    ds_err err = {0};
    ds_dataset tr, te;
    const char *nodir = path_in(tu_root, "no-such-dir");
    ds_status st = ds_data_load_dir(nodir, DS_FORMAT_AUTO, &tr, &te, &err);
#define DIR_HINT "expected a directory of IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, " \
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz) or of CIFAR-10 files " \
    "data_batch_1.bin .. data_batch_5.bin and test_batch.bin"
    check_msg(st, DS_EIO, &err, "%s: data directory not found (No such file or directory); " DIR_HINT,
              nodir);
    CHECK(dataset_is_zero(&tr) && dataset_is_zero(&te), "outputs zeroed");
    /* a file where the directory should be */
    const char *file = path_in(tu_root, "a-file");
    write_bytes(file, "x", 1, 0);
    st = ds_data_load_dir(file, DS_FORMAT_AUTO, &tr, &te, &err);
    check_msg(st, DS_EIO, &err, "%s: not a directory (a file); " DIR_HINT, file);
    /* a path through a file */
    const char *through = path_in(tu_root, "a-file/sub");
    st = ds_data_load_dir(through, DS_FORMAT_IDX, &tr, &te, &err);
    check_msg(st, DS_EIO, &err, "%s: cannot access the data directory (Not a directory); " DIR_HINT,
              through);
#undef DIR_HINT
    const char *empty = fixture_dir("dir_empty");
    st = ds_data_load_dir(empty, DS_FORMAT_AUTO, &tr, &te, &err);
    check_msg(st, DS_EIO, &err, "%s: missing IDX file train-images-idx3-ubyte (looked for "
              "train-images-idx3-ubyte[.gz] and train-images.idx3-ubyte[.gz]; an IDX directory holds "
              "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte (each optionally .gz); no data_batch_1.bin for CIFAR-10 either)",
              empty);
}

static void test_format_parse(void)
{
    ds_err err = {0};
    ds_data_format f = DS_FORMAT_IDX;
    CHECK_OK(ds_data_format_parse("auto", &f, &err), &err);
    CHECK(f == DS_FORMAT_AUTO, "auto");
    CHECK_OK(ds_data_format_parse("idx", &f, &err), &err);
    CHECK(f == DS_FORMAT_IDX, "idx");
    CHECK_OK(ds_data_format_parse("cifar10", &f, &err), &err);
    CHECK(f == DS_FORMAT_CIFAR10, "cifar10");
    check_err(ds_data_format_parse("mnist", &f, &err), DS_EINVAL, &err, "\"mnist\"", "cifar10", NULL);
    CHECK(ds_data_format_parse(NULL, &f, &err) == DS_EINVAL, "NULL");
}

/* ------------------------------------------------------------------ splits */

static void test_split(void)
{
    ds_err err = {0};
    ds_split s, t, u;
    const size_t n = 1000;
    CHECK_OK(ds_split_make(n, 42, 100, 200, 50, &s, &err), &err);
    CHECK(s.n_val == 100 && s.n_attacker == 200 && s.n_keypool == 50 && s.n_train == 650, "sizes");
    static int seen[1000];
    memset(seen, 0, sizeof seen);
    const uint32_t *parts[4] = {s.train, s.val, s.attacker, s.keypool};
    const size_t sizes[4] = {s.n_train, s.n_val, s.n_attacker, s.n_keypool};
    int sorted = 1;
    for (int p = 0; p < 4; p++)
        for (size_t i = 0; i < sizes[p]; i++) {
            if (parts[p][i] < n) seen[parts[p][i]]++;
            if (i && parts[p][i] <= parts[p][i - 1]) sorted = 0;
        }
    int cover = 1;
    for (size_t i = 0; i < n; i++) cover &= seen[i] == 1;
    CHECK(cover, "every index exactly once");
    CHECK(sorted, "each part ascending");
    CHECK(s.val[99] - s.val[0] > 500, "val spread over the range, not a prefix");

    CHECK_OK(ds_split_make(n, 42, 100, 200, 50, &t, &err), &err);
    CHECK(memcmp(s.val, t.val, 100 * 4) == 0 && memcmp(s.train, t.train, 650 * 4) == 0 &&
          memcmp(s.attacker, t.attacker, 200 * 4) == 0 && memcmp(s.keypool, t.keypool, 50 * 4) == 0,
          "same seed, same split");
    CHECK_OK(ds_split_make(n, 43, 100, 200, 50, &u, &err), &err);
    CHECK(memcmp(s.val, u.val, 100 * 4) != 0, "different seed, different split");
    ds_split_free(&s);
    ds_split_free(&t);
    ds_split_free(&u);
    CHECK(s.train == NULL && s.n_train == 0 && s.val == NULL, "free zeroes");
    ds_split_free(NULL);

    CHECK_OK(ds_split_make(10, 1, 0, 0, 0, &s, &err), &err);
    CHECK(s.n_train == 10 && s.val == NULL && s.train[9] == 9, "all train");
    ds_split_free(&s);
    CHECK_OK(ds_split_make(10, 1, 3, 3, 3, &s, &err), &err);
    CHECK(s.n_train == 1, "one left");
    ds_split_free(&s);
    ds_status st = ds_split_make(10, 1, 4, 3, 3, &s, &err);
    check_err(st, DS_EINVAL, &err, "out of 10", NULL, NULL);
    st = ds_split_make(10, 1, SIZE_MAX, 3, 3, &s, &err);
    CHECK(st == DS_EINVAL, "overflowing sizes -> %s", ds_status_name(st));
    st = ds_split_make(0, 1, 0, 0, 0, &s, &err);
    CHECK(st == DS_EINVAL, "n = 0 -> %s", ds_status_name(st));
}

/* --------------------------------------------------------------- batches */

/* A small in-memory dataset: n samples of c x h x w with pixel_of(i, ch*h + y, x). */
static ds_dataset mem_dataset(uint8_t *x, uint8_t *y, size_t n, int c, int h, int w)
{
    ds_dataset d = {.n = n, .c = c, .h = h, .w = w, .num_classes = 10, .x = x, .y = y, .owns = 0};
    for (size_t i = 0; i < n; i++) {
        y[i] = label_of(i);
        for (int k = 0; k < c * h; k++)
            for (int xx = 0; xx < w; xx++)
                x[(i * (size_t)(c * h) + (size_t)k) * (size_t)w + (size_t)xx] = pixel_of(i, (size_t)k, (size_t)xx);
    }
    return d;
}

static void test_preproc_and_normalise(void)
{
    static uint8_t x[4 * 3 * 5 * 6], y[4];
    ds_dataset d1 = mem_dataset(x, y, 4, 1, 5, 6);
    ds_preproc p1 = ds_preproc_default(&d1);
    CHECK(p1.channels == 1 && p1.mean[0] == 0.0f && p1.std[0] == 1.0f, "1-ch default");
    CHECK_CLOSE(p1.scale, 1.0 / 255.0, 1e-9, 0, "scale");
    uint32_t idx[3] = {2, 0, 3};
    float out[3 * 3 * 5 * 6];
    int lab[3];
    ds_batch_fill(&d1, idx, 3, &p1, NULL, NULL, out, lab);
    double maxerr = 0;
    for (size_t b = 0; b < 3; b++)
        for (size_t k = 0; k < 30; k++)
            maxerr = fmax(maxerr, fabs(out[b * 30 + k] - x[idx[b] * 30 + k] / 255.0));
    CHECK(maxerr < 1e-6, "1-ch max error %g", maxerr);
    CHECK(lab[0] == label_of(2) && lab[1] == label_of(0) && lab[2] == label_of(3), "labels");

    ds_dataset d3 = mem_dataset(x, y, 4, 3, 5, 6);
    ds_preproc p3 = ds_preproc_default(&d3);
    const double mean[3] = {0.4914, 0.4822, 0.4465}, sd[3] = {0.2470, 0.2435, 0.2616};
    CHECK(p3.channels == 3, "3-ch default");
    for (int c = 0; c < 3; c++) {
        CHECK_CLOSE(p3.mean[c], mean[c], 1e-7, 0, "mean");
        CHECK_CLOSE(p3.std[c], sd[c], 1e-7, 0, "std");
    }
    ds_batch_fill(&d3, idx, 3, &p3, NULL, NULL, out, NULL);
    maxerr = 0;
    for (size_t b = 0; b < 3; b++)
        for (size_t c = 0; c < 3; c++)
            for (size_t k = 0; k < 30; k++) {
                double want = (x[(idx[b] * 3 + c) * 30 + k] / 255.0 - mean[c]) / sd[c];
                maxerr = fmax(maxerr, fabs(out[(b * 3 + c) * 30 + k] - want));
            }
    CHECK(maxerr < 1e-5, "3-ch max error %g", maxerr);
    /* an inactive augmentation changes nothing and draws nothing */
    float out2[3 * 3 * 5 * 6];
    ds_augment off = {0, 0};
    ds_rng r;
    ds_rng_init(&r, 1, 2);
    ds_rng r0 = r;
    ds_batch_fill(&d3, idx, 3, &p3, &off, &r, out2, NULL);
    CHECK(memcmp(out, out2, sizeof out) == 0 && memcmp(&r, &r0, sizeof r) == 0, "inactive aug");
}

enum { AN = 32, AC = 2, AH = 6, AW = 7, ACHW = AC * AH * AW };

static void test_augment_determinism(void)
{
    static uint8_t x[AN * ACHW], y[AN];
    ds_dataset d = mem_dataset(x, y, AN, AC, AH, AW);
    ds_preproc pp = ds_preproc_default(&d);
    uint32_t idx[AN];
    for (uint32_t i = 0; i < AN; i++) idx[i] = i;
    ds_augment aug = {.pad_crop = 2, .hflip = 1};
    static float a[AN * ACHW], b[AN * ACHW], c[AN * ACHW];
    ds_rng r1, r2, r3;
    ds_rng_init(&r1, 7, 11);
    ds_rng_init(&r2, 7, 11);
    ds_rng_init(&r3, 8, 11);
    ds_batch_fill(&d, idx, AN, &pp, &aug, &r1, a, NULL);
    ds_batch_fill(&d, idx, AN, &pp, &aug, &r2, b, NULL);
    ds_batch_fill(&d, idx, AN, &pp, &aug, &r3, c, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0, "same rng seed, same batch");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seed, different batch");
}

static void test_augment_hflip(void)
{
    static uint8_t x[AN * ACHW], y[AN];
    ds_dataset d = mem_dataset(x, y, AN, AC, AH, AW);
    ds_preproc pp = ds_preproc_default(&d);
    uint32_t idx[AN];
    for (uint32_t i = 0; i < AN; i++) idx[i] = i;
    static float plain[AN * ACHW], aug_out[AN * ACHW];
    ds_batch_fill(&d, idx, AN, &pp, NULL, NULL, plain, NULL);
    ds_augment aug = {.pad_crop = 0, .hflip = 1};
    ds_rng r;
    ds_rng_init(&r, 3, 4);
    ds_batch_fill(&d, idx, AN, &pp, &aug, &r, aug_out, NULL);
    int flipped = 0, kept = 0, other = 0;
    for (size_t i = 0; i < AN; i++) {
        const float *p = plain + i * ACHW, *q = aug_out + i * ACHW;
        int same = memcmp(p, q, ACHW * sizeof *p) == 0, mirror = 1;
        for (size_t k = 0; k < AC * AH; k++)
            for (size_t xx = 0; xx < AW; xx++) mirror &= q[k * AW + xx] == p[k * AW + (AW - 1 - xx)];
        kept += same;
        flipped += mirror && !same;
        other += !same && !mirror;
    }
    CHECK(other == 0, "%d samples neither plain nor mirrored", other);
    CHECK(flipped > 0 && kept > 0, "flipped %d kept %d of %d", flipped, kept, AN);
}

static void test_augment_crop(void)
{
    static uint8_t x[AN * ACHW], y[AN];
    ds_dataset d = mem_dataset(x, y, AN, AC, AH, AW);
    ds_preproc pp = {.scale = 1.0f / 255.0f, .channels = 1, .mean = {0.5f}, .std = {0.25f}};
    uint32_t idx[AN];
    for (uint32_t i = 0; i < AN; i++) idx[i] = i;
    static float plain[AN * ACHW], out[AN * ACHW];
    ds_batch_fill(&d, idx, AN, &pp, NULL, NULL, plain, NULL);
    const int pad = 2;
    ds_augment aug = {.pad_crop = pad, .hflip = 1};
    ds_rng r, replay;
    ds_rng_init(&r, 5, 6);
    replay = r;
    ds_batch_fill(&d, idx, AN, &pp, &aug, &r, out, NULL);
    int shifted = 0, flips = 0;
    size_t bad = 0, zeros = 0;
    for (size_t i = 0; i < AN; i++) {
        /* the documented draw order: crop dy, crop dx, then flip */
        int dy = (int)ds_rng_below(&replay, 2 * pad + 1) - pad;
        int dx = (int)ds_rng_below(&replay, 2 * pad + 1) - pad;
        int flip = (int)(ds_rng_u32(&replay) & 1);
        shifted += dy != 0 || dx != 0;
        flips += flip;
        for (int c = 0; c < AC; c++)
            for (int yy = 0; yy < AH; yy++)
                for (int xx = 0; xx < AW; xx++) {
                    int sy = yy + dy, sx = (flip ? AW - 1 - xx : xx) + dx;
                    float want = sy >= 0 && sy < AH && sx >= 0 && sx < AW
                                     ? plain[i * ACHW + ((size_t)c * AH + (size_t)sy) * AW + (size_t)sx]
                                     : 0.0f;
                    float got = out[i * ACHW + ((size_t)c * AH + (size_t)yy) * AW + (size_t)xx];
                    bad += got != want;
                    zeros += got == 0.0f;
                }
    }
    CHECK(bad == 0, "%zu values differ from the replayed crop/flip", bad);
    CHECK(shifted > 0 && flips > 0, "shifted %d flipped %d", shifted, flips);
    CHECK(zeros > 0, "padding appears as 0.0 in normalised space");
    CHECK(memcmp(&r, &replay, sizeof r) == 0, "rng advanced exactly by 3 draws per sample");
}

/* ---------------------------------------------------------- Fashion-MNIST */

static void check_real_set(const ds_dataset *d, size_t n, const char *what)
{
    CHECK(d->n == n && d->c == 1 && d->h == 28 && d->w == 28 && d->num_classes == 10,
          "%s: n=%zu %dx%dx%d", what, d->n, d->c, d->h, d->w);
    size_t count[256] = {0};
    for (size_t i = 0; i < d->n; i++) count[d->y[i]]++;
    size_t present = 0, beyond = 0;
    for (int k = 0; k < 256; k++) {
        if (k < 10) present += count[k] > 0;
        else beyond += count[k];
    }
    CHECK(present == 10 && beyond == 0, "%s: %zu classes present, %zu labels >= 10", what, present, beyond);
}

static void test_fashion_mnist(void)
{
    struct stat sb;
    if (stat(DS_DEFAULT_DATA_DIR, &sb) != 0) {
        printf("NOTE test_fashion_mnist skipped: %s not installed\n", DS_DEFAULT_DATA_DIR);
        return;
    }
    ds_err err = {0};
    ds_dataset tr, te;
    CHECK_OK(ds_data_load_dir(DS_DEFAULT_DATA_DIR, DS_FORMAT_AUTO, &tr, &te, &err), &err);
    check_real_set(&tr, 60000, "train");
    check_real_set(&te, 10000, "test");
    ds_dataset_free(&tr);
    ds_dataset_free(&te);
}

int main(void)
{
    if (tu_root_create("data") != 0) return 1;
    RUN(test_idx_roundtrip_raw_and_gz);
    RUN(test_idx_bad_magic);
    RUN(test_idx_truncated);
    RUN(test_idx_trailing_bytes);
    RUN(test_idx_count_mismatch_and_labels);
    RUN(test_idx_bad_dims_and_missing);
    RUN(test_cifar_roundtrip);
    RUN(test_cifar_errors);
    RUN(test_load_dir_idx);
    RUN(test_load_dir_cifar);
    RUN(test_load_dir_missing);
    RUN(test_format_parse);
    RUN(test_split);
    RUN(test_preproc_and_normalise);
    RUN(test_augment_determinism);
    RUN(test_augment_hflip);
    RUN(test_augment_crop);
    struct stat sb;
    if (stat(DS_DEFAULT_DATA_DIR, &sb) == 0) RUN(test_fashion_mnist);
    else test_fashion_mnist();
    tu_root_remove();
    TEST_MAIN_END();
}
