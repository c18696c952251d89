/* test_keyfile.c - watermark keys on disk and their commitment: white-box and
 * black-box round trips compared field by field, mode exactly 0600 whatever the
 * umask, saves that fail (temporary-file clash, file size limit, unwritable
 * directory, a directory in the way, an invalid key) without touching an
 * existing key or leaving a temporary file, refusal of malformed or hostile
 * files (each message checked, the key left zeroed), loose-permission reporting,
 * and a commitment that is stable, changes with every secret, ignores the
 * provenance fields and matches known answers derived from the documented byte
 * layout. Fixtures live in a mkdtemp directory under /tmp, removed at the end.
 */
#include "deepsigns/wm.h"

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "deepsigns/model_file.h"

/* ---------------------------------------------------------------- keys */

enum { WB_M = 16, WB_S = 2, WB_N = 8, IMG_N = 6, IMG_C = 1, IMG_H = 4, IMG_W = 4, BB_K = 5 };

/* Image arrays of n images of shape c x h x w with a deterministic pattern. */
static int make_images(ds_wm_key *k, size_t n, int c, int h, int w, unsigned salt)
{
    size_t chw = (size_t)c * h * w;
    k->n = n;
    k->c = c;
    k->h = h;
    k->w = w;
    k->x = malloc(n * chw);
    k->y = malloc(n);
    k->source_index = malloc(n * sizeof *k->source_index);
    if (!k->x || !k->y || !k->source_index) return 0;
    for (size_t i = 0; i < n * chw; i++) k->x[i] = (uint8_t)((i * 37u + salt) & 255u);
    return 1;
}

/* classes 10, layer relu_2 of width 16, targets {3, 7}, 8 bits each, 6 images 1x4x4. */
static int make_wb(ds_wm_key *k)
{
    memset(k, 0, sizeof *k);
    k->scheme = DS_WM_WHITEBOX;
    snprintf(k->arch, sizeof k->arch, "mnist-mlp");
    k->classes = 10;
    k->seed = 0x0123456789abcdefULL;
    ds_wb_key *w = &k->wb;
    snprintf(w->layer, sizeof w->layer, "relu_2");
    w->M = WB_M;
    w->s = WB_S;
    w->N = WB_N;
    w->lambda1 = 0.01f;
    w->lambda2 = 0.02f;
    w->alpha = 1e-4;
    w->targets = malloc(WB_S * sizeof *w->targets);
    w->bits = malloc(WB_S * WB_N);
    w->A = malloc(WB_N * WB_M * sizeof *w->A);
    if (!w->targets || !w->bits || !w->A || !make_images(k, IMG_N, IMG_C, IMG_H, IMG_W, 11)) {
        CHECK(0, "out of memory");
        return 0;
    }
    w->targets[0] = 3;
    w->targets[1] = 7;
    for (int i = 0; i < WB_S * WB_N; i++) w->bits[i] = (uint8_t)((i * 5 + 1) % 3 == 0);
    for (int i = 0; i < WB_N * WB_M; i++) w->A[i] = (float)sin(1.0 + i) * 1.7f;
    for (int i = 0; i < IMG_N; i++) {
        k->y[i] = (uint8_t)w->targets[i % WB_S];
        k->source_index[i] = 1000 + 17 * i;
    }
    return 1;
}

/* classes 10, K = 5 noise keys 1x4x4, alpha 1e-4. */
static int make_bb(ds_wm_key *k)
{
    memset(k, 0, sizeof *k);
    k->scheme = DS_WM_BLACKBOX;
    snprintf(k->arch, sizeof k->arch, "mnist-cnn");
    k->classes = 10;
    k->seed = 7;
    k->bb.K = BB_K;
    k->bb.alpha = 1e-4;
    if (!make_images(k, BB_K, IMG_C, IMG_H, IMG_W, 3)) {
        CHECK(0, "out of memory");
        return 0;
    }
    for (int i = 0; i < BB_K; i++) {
        k->y[i] = (uint8_t)((i * 3 + 1) % 10);
        k->source_index[i] = -1;
    }
    return 1;
}

static void check_same_key(const ds_wm_key *a, const ds_wm_key *b)
{
    CHECK(a->scheme == b->scheme, "scheme %d vs %d", a->scheme, b->scheme);
    CHECK(!strcmp(a->arch, b->arch), "arch '%s' vs '%s'", a->arch, b->arch);
    CHECK(a->classes == b->classes, "classes %d vs %d", a->classes, b->classes);
    CHECK(a->seed == b->seed, "seed %llu vs %llu", (unsigned long long)a->seed,
          (unsigned long long)b->seed);
    CHECK(a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w, "image shape");
    if (a->n != b->n || a->c != b->c || a->h != b->h || a->w != b->w) return;
    size_t chw = (size_t)a->c * a->h * a->w;
    CHECK(!memcmp(a->x, b->x, a->n * chw), "images differ");
    CHECK(!memcmp(a->y, b->y, a->n), "labels differ");
    CHECK(!memcmp(a->source_index, b->source_index, a->n * sizeof *a->source_index),
          "source indices differ");
    if (a->scheme == DS_WM_BLACKBOX) {
        CHECK(a->bb.K == b->bb.K, "K %d vs %d", a->bb.K, b->bb.K);
        CHECK(memcmp(&a->bb.alpha, &b->bb.alpha, sizeof a->bb.alpha) == 0, "alpha %g vs %g", a->bb.alpha,
              b->bb.alpha);
        return;
    }
    const ds_wb_key *p = &a->wb, *q = &b->wb;
    CHECK(!strcmp(p->layer, q->layer), "layer '%s' vs '%s'", p->layer, q->layer);
    CHECK(p->M == q->M && p->s == q->s && p->N == q->N, "M, s, N");
    if (p->M != q->M || p->s != q->s || p->N != q->N) return;
    CHECK(!memcmp(p->targets, q->targets, p->s * sizeof *p->targets), "targets differ");
    CHECK(!memcmp(p->bits, q->bits, (size_t)p->s * p->N), "bits differ");
    CHECK(!memcmp(p->A, q->A, (size_t)p->N * p->M * sizeof *p->A), "A differs (bitwise)");
    CHECK(memcmp(&p->lambda1, &q->lambda1, sizeof p->lambda1) == 0, "lambda1");
    CHECK(memcmp(&p->lambda2, &q->lambda2, sizeof p->lambda2) == 0, "lambda2");
}

static int is_zeroed(const ds_wm_key *k)
{
    ds_wm_key z;
    memset(&z, 0, sizeof z);
    return memcmp(k, &z, sizeof z) == 0;
}

/* Save k as tu_root/name into path; returns 1 on success. */
static int save_ok(const ds_wm_key *k, const char *name, char *path)
{
    tu_path(path, name);
    ds_err err = {0};
    ds_status st = ds_key_save(k, path, &err);
    CHECK(st == DS_OK, "save %s: %s", path, err.msg);
    return st == DS_OK;
}

static void commit_ok(const ds_wm_key *k, char hex[DS_COMMIT_HEX])
{
    ds_err err = {0};
    CHECK_OK(ds_key_commitment(k, hex, &err), &err);
}

/* ---------------------------------------------------------------- basics */

static void test_scheme_names(void)
{
    ds_wm_scheme s = 0;
    ds_err err = {0};
    CHECK(!strcmp(ds_wm_scheme_name(DS_WM_WHITEBOX), "whitebox"), "name");
    CHECK(!strcmp(ds_wm_scheme_name(DS_WM_BLACKBOX), "blackbox"), "name");
    CHECK(!strcmp(ds_wm_scheme_name((ds_wm_scheme)9), "unknown"), "name of 9");
    CHECK_OK(ds_wm_scheme_parse("whitebox", &s, &err), &err);
    CHECK(s == DS_WM_WHITEBOX, "parsed %d", s);
    CHECK_OK(ds_wm_scheme_parse("blackbox", &s, &err), &err);
    CHECK(s == DS_WM_BLACKBOX, "parsed %d", s);
    CHECK(ds_wm_scheme_parse("greybox", &s, &err) == DS_EINVAL, "greybox accepted");
    CHECK(strstr(err.msg, "unknown watermark scheme 'greybox'") != NULL, "message: %s", err.msg);
    CHECK(ds_wm_scheme_parse("", &s, NULL) == DS_EINVAL, "empty accepted");
}

static void test_key_images_view(void)
{
    ds_wm_key k;
    if (!make_wb(&k)) goto done;
    ds_dataset d = ds_wm_key_images(&k);
    CHECK(d.n == IMG_N && d.c == IMG_C && d.h == IMG_H && d.w == IMG_W, "shape");
    CHECK(d.num_classes == 10, "num_classes %d", d.num_classes);
    CHECK(d.x == k.x && d.y == k.y && d.owns == 0, "not a view");
done:
    ds_wm_key_free(&k);
    CHECK(is_zeroed(&k), "free does not zero the key");
    ds_wm_key_free(NULL);
}

/* ---------------------------------------------------------------- round trips */

static void roundtrip(int (*make)(ds_wm_key *), const char *name)
{
    ds_wm_key k, l;
    memset(&l, 0, sizeof l);
    char path[TU_PATH_LEN];
    if (!make(&k) || !save_ok(&k, name, path)) goto done;
    CHECK(tu_file_mode(path) == 0600, "mode %o", tu_file_mode(path));
    ds_err err = {0};
    int loose = -1;
    CHECK_OK(ds_key_load(path, &l, &loose, &err), &err);
    CHECK(loose == 0, "loose_perms %d on a 0600 file", loose);
    check_same_key(&k, &l);
    char a[DS_COMMIT_HEX], b[DS_COMMIT_HEX];
    commit_ok(&k, a);
    commit_ok(&l, b);
    CHECK(!strcmp(a, b), "commitment changed by save/load: %s vs %s", a, b);
done:
    ds_wm_key_free(&k);
    ds_wm_key_free(&l);
}

static void test_roundtrip_whitebox(void) { roundtrip(make_wb, "wb.h5"); }

/* A format 1 key (no committed claim level) still loads, keeps its format and
 * commitment when saved again, and claims at DS_WB_ALPHA. */
static void test_format1_whitebox(void)
{
    ds_wm_key k, l;
    memset(&l, 0, sizeof l);
    char path[TU_PATH_LEN];
    if (!make_wb(&k)) goto done;
    k.format = DS_KEY_FORMAT_V1;
    k.wb.alpha = 0;  /* not stored in format 1 */
    if (!save_ok(&k, "wb-v1.h5", path)) goto done;
    ds_err err = {0};
    CHECK_OK(ds_key_load(path, &l, NULL, &err), &err);
    CHECK(l.format == DS_KEY_FORMAT_V1, "format %d after loading a format 1 key", l.format);
    CHECK(ds_wm_key_alpha(&l) == DS_WB_ALPHA && l.wb.alpha == DS_WB_ALPHA, "claim level %g",
          ds_wm_key_alpha(&l));
    char a[DS_COMMIT_HEX], b[DS_COMMIT_HEX];
    commit_ok(&k, a);
    commit_ok(&l, b);
    CHECK(!strcmp(a, b), "format 1 commitment changed by save/load: %s vs %s", a, b);
    l.format = 0;
    commit_ok(&l, b);
    CHECK(strcmp(a, b) != 0, "format 1 and 2 commit alike");
done:
    ds_wm_key_free(&k);
    ds_wm_key_free(&l);
}
static void test_roundtrip_blackbox(void) { roundtrip(make_bb, "bb.h5"); }

/* 0600 exactly whatever the umask; equal keys give equal bytes; saving over a
 * key replaces it and leaves no temporary file. */
static void test_mode_bytes_overwrite(void)
{
    ds_wm_key k, l;
    memset(&l, 0, sizeof l);
    char p1[TU_PATH_LEN], p2[TU_PATH_LEN];
    if (!make_wb(&k)) goto done;
    mode_t old = umask(0277);  /* would make a plain open(0600) read-only */
    int ok = save_ok(&k, "m1.h5", p1);
    umask(0);
    ok &= save_ok(&k, "m2.h5", p2);
    umask(old);
    if (!ok) goto done;
    CHECK(tu_file_mode(p1) == 0600, "mode %o under umask 0277", tu_file_mode(p1));
    CHECK(tu_file_mode(p2) == 0600, "mode %o under umask 0", tu_file_mode(p2));
    tu_bytes a = tu_read_file(p1), b = tu_read_file(p2);
    CHECK(tu_same_bytes(a, b), "the same key gave different bytes (%zu vs %zu)", a.n, b.n);
    free(a.b);
    free(b.b);
    CHECK(chmod(p1, 0644) == 0, "chmod");
    int before = tu_count_entries(tu_root);
    k.wb.bits[0] ^= 1u;
    CHECK(save_ok(&k, "m1.h5", p1), "overwrite");
    CHECK(tu_file_mode(p1) == 0600, "an overwritten key has mode %o", tu_file_mode(p1));
    CHECK(tu_count_entries(tu_root) == before, "a temporary file was left behind");
    ds_err err = {0};
    CHECK_OK(ds_key_load(p1, &l, NULL, &err), &err);
    check_same_key(&k, &l);
done:
    ds_wm_key_free(&k);
    ds_wm_key_free(&l);
}

/* ---------------------------------------------------------------- failed saves */

/* Save `k` over dir/key.h5, which holds `old`, expecting failure with `phrase`;
 * the old key must be byte-identical afterwards and the directory unchanged. */
static void expect_save_fails(const ds_wm_key *k, const char *dir, const char *phrase,
                              void (*before)(void), void (*after)(void))
{
    char path[TU_PATH_LEN];
    snprintf(path, sizeof path, "%s/key.h5", dir);
    tu_bytes old = tu_read_file(path);
    int entries = tu_count_entries(dir);
    ds_err err = {0};
    if (before) before();
    ds_status st = ds_key_save(k, path, &err);
    if (after) after();
    CHECK(st != DS_OK, "save succeeded (expected '%s')", phrase);
    CHECK(strstr(err.msg, phrase) != NULL, "message lacks '%s': %s", phrase, err.msg);
    CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    tu_bytes now = tu_read_file(path);
    CHECK(tu_same_bytes(old, now), "the existing key changed");
    CHECK(tu_count_entries(dir) == entries, "directory has %d entries, expected %d",
          tu_count_entries(dir), entries);
    free(old.b);
    free(now.b);
}

/* The disk fills after 64 KiB. */
static void limit_fsize(void) { tu_fsize_limit(64 * 1024); }

static char g_dir[128]; /* the directory of the failed-save tests */

static void lock_dir(void) { CHECK(chmod(g_dir, 0500) == 0, "chmod 0500"); }
static void unlock_dir(void) { CHECK(chmod(g_dir, 0700) == 0, "chmod 0700"); }

static void test_failed_saves_keep_old_key(void)
{
    ds_wm_key old, big;
    memset(&big, 0, sizeof big);
    char path[TU_PATH_LEN], tmp[TU_PATH_LEN + 32];
    snprintf(g_dir, sizeof g_dir, "%s/fail", tu_root);
    CHECK(mkdir(g_dir, 0700) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/key.h5", g_dir);
    ds_err err = {0};
    if (!make_wb(&old) || !make_bb(&big)) goto done;
    CHECK_OK(ds_key_save(&old, path, &err), &err);

    /* a temporary file of that name exists: never clobbered, never removed */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    tu_write_file(tmp, "x", 1);
    expect_save_fails(&big, g_dir, "cannot create the temporary file", NULL, NULL);
    tu_bytes t = tu_read_file(tmp);
    CHECK(t.n == 1 && t.b && t.b[0] == 'x', "someone else's temporary file was changed");
    free(t.b);
    CHECK(unlink(tmp) == 0, "unlink %s", tmp);

    /* the disk fills midway (file size limit): 1 MB of key images */
    ds_wm_key_free(&big);
    if (!make_bb(&big)) goto done;
    free(big.x);
    big.h = big.w = 256;
    big.x = calloc(big.n * 256 * 256, 1);
    if (!big.x) goto done;
    expect_save_fails(&big, g_dir, path, limit_fsize, tu_fsize_restore);

    /* an unwritable directory (root writes anyway, so only as another user) */
    if (geteuid() != 0)
        expect_save_fails(&old, g_dir, "cannot create the temporary file", lock_dir, unlock_dir);
    else
        printf("note: running as root, the unwritable-directory case is covered by the two above\n");

    /* a key holding NaN is refused before anything is written */
    big.h = big.w = IMG_H;
    float a5 = old.wb.A[5];
    old.wb.A[5] = NAN;
    expect_save_fails(&old, g_dir, "not saved: /whitebox/A holds a non-finite value", NULL, NULL);
    old.wb.A[5] = a5;
    uint8_t b3 = old.wb.bits[3];
    old.wb.bits[3] = 2;
    expect_save_fails(&old, g_dir, "not saved: /whitebox/bits[3] = 2 is not a bit", NULL, NULL);
    old.wb.bits[3] = b3;
    old.n = 0;
    expect_save_fails(&old, g_dir, "attribute 'n' = 0 is out of range [1, 1000000]", NULL, NULL);
    old.n = IMG_N;

    /* a directory in the way: the rename fails and the temporary file goes */
    char sub[TU_PATH_LEN];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir sub");
    int before = tu_count_entries(g_dir);
    CHECK(ds_key_save(&old, sub, &err) == DS_EIO, "saving over a directory: %s", err.msg);
    CHECK(strstr(err.msg, "cannot rename") != NULL, "message: %s", err.msg);
    CHECK(tu_count_entries(g_dir) == before, "a temporary file was left behind");

    ds_wm_key l;
    CHECK_OK(ds_key_load(path, &l, NULL, &err), &err);
    if (!err.code) check_same_key(&old, &l);
    ds_wm_key_free(&l);
done:
    ds_wm_key_free(&old);
    ds_wm_key_free(&big);
}

/* ---------------------------------------------------------------- commitment */

static int is_lower_hex(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == '\0';
}

static void test_commitment_stable(void)
{
    ds_wm_key k;
    if (!make_wb(&k)) goto done;
    char a[DS_COMMIT_HEX], b[DS_COMMIT_HEX], c[DS_COMMIT_HEX];
    commit_ok(&k, a);
    commit_ok(&k, b);
    CHECK(is_lower_hex(a), "not 64 lowercase hex digits: %s", a);
    CHECK(!strcmp(a, b), "two commitments of one key differ");
    /* provenance is not committed */
    k.seed++;
    snprintf(k.arch, sizeof k.arch, "other");
    commit_ok(&k, c);
    CHECK(!strcmp(a, c), "seed or arch changed the commitment");
done:
    ds_wm_key_free(&k);
}

/* Change one secret of k (a copy's arrays are k's), commit, undo. */
static void expect_commit_changes(ds_wm_key *k, const char *base, const char *what)
{
    char h[DS_COMMIT_HEX];
    commit_ok(k, h);
    CHECK(strcmp(h, base) != 0, "changing %s left the commitment unchanged", what);
}

static void test_commitment_sensitive(void)
{
    ds_wm_key k, b;
    char base[DS_COMMIT_HEX], bbase[DS_COMMIT_HEX], h[DS_COMMIT_HEX];
    memset(&b, 0, sizeof b);
    if (!make_wb(&k) || !make_bb(&b)) goto done;
    commit_ok(&k, base);
    commit_ok(&b, bbase);
    CHECK(strcmp(base, bbase) != 0, "white-box and black-box keys commit alike");

    k.wb.bits[9] ^= 1u;
    expect_commit_changes(&k, base, "one bit");
    k.wb.bits[9] ^= 1u;
    float a0 = k.wb.A[37];
    k.wb.A[37] = nextafterf(a0, INFINITY);
    expect_commit_changes(&k, base, "one A entry by 1 ulp");
    k.wb.A[37] = a0;
    k.x[50]++;
    expect_commit_changes(&k, base, "one pixel");
    k.x[50]--;
    k.wb.targets[1] = 8;
    expect_commit_changes(&k, base, "a target");
    k.wb.targets[1] = 7;
    k.y[2] = 0;
    expect_commit_changes(&k, base, "a label");
    k.y[2] = 3;
    k.source_index[4]++;
    expect_commit_changes(&k, base, "a source index");
    k.source_index[4]--;
    k.wb.lambda2 = nextafterf(k.wb.lambda2, 1.0f);
    expect_commit_changes(&k, base, "lambda2");
    k.wb.lambda2 = 0.02f;
    k.wb.layer[5] = '1';
    expect_commit_changes(&k, base, "the layer");
    k.wb.layer[5] = '2';
    commit_ok(&k, h);
    CHECK(!strcmp(h, base), "undoing every change did not restore the commitment");

    b.bb.K = 4;
    expect_commit_changes(&b, bbase, "K");
    b.bb.K = BB_K;
    b.bb.alpha = nextafter(b.bb.alpha, 1.0);
    expect_commit_changes(&b, bbase, "alpha");
    b.bb.alpha = 1e-4;
    b.x[0] ^= 1u;
    expect_commit_changes(&b, bbase, "a key pixel");
    b.x[0] ^= 1u;
    commit_ok(&b, h);
    CHECK(!strcmp(h, bbase), "undoing every change did not restore the black-box commitment");

    /* a key with arrays missing is refused, not hashed */
    ds_err err = {0};
    int *t = k.wb.targets;
    k.wb.targets = NULL;
    CHECK(ds_key_commitment(&k, h, &err) == DS_EINVAL && h[0] == '\0', "no targets: %s", err.msg);
    k.wb.targets = t;
done:
    ds_wm_key_free(&k);
    ds_wm_key_free(&b);
}

/* The documented layout (docs/key-file.md), checked against independent answers.
 * Re-derive them with:
 *
 * python3 -c "import hashlib,struct as S;print(hashlib.sha256(b'DEEPSIGNS-COMMIT-V1\0'
 *   +S.pack('<5IQ',1,3,1,2,2,2)+S.pack('<I',6)+b'relu_2'+S.pack('<4I',2,1,2,1)+bytes([1,0])
 *   +S.pack('<6f',0.5,-1.25,2.0,0.0,0.01,0.01)+bytes(range(8))+bytes([1,1])
 *   +S.pack('<2q',7,-1)).hexdigest())"
 *
 * Format 2 keys use the tag DEEPSIGNS-COMMIT-V2 and white-box ones add
 * S.pack('<d',alpha) after the two lambdas. Format 3 white-box keys use the tag
 * DEEPSIGNS-COMMIT-V3 and add, after alpha, the reference:
 * S.pack('<2I',probes,units)+probe bytes+S.pack('<4f',*profiles) (the test's:
 * 2, 2, bytes([1,2,3,4,250,0,9,8]), 0.25,1.5,0.0,3.0); black-box keys of
 * format 3 commit exactly as format 2.
 *
 * python3 -c "import hashlib,struct as S;print(hashlib.sha256(b'DEEPSIGNS-COMMIT-V1\0'
 *   +S.pack('<5IQ',2,10,1,1,2,1)+S.pack('<Id',1,1e-4)+bytes([0,255,3])
 *   +S.pack('<q',-1)).hexdigest())"
 */
static void test_commitment_known_answer(void)
{
    int targets[1] = {1};
    uint8_t bits[2] = {1, 0}, x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, y[2] = {1, 1};
    float A[4] = {0.5f, -1.25f, 2.0f, 0.0f};
    int64_t src[2] = {7, -1};
    ds_wm_key k;
    memset(&k, 0, sizeof k);
    k.scheme = DS_WM_WHITEBOX;
    snprintf(k.arch, sizeof k.arch, "ignored");
    k.classes = 3;
    k.seed = 99;
    k.c = 1;
    k.h = 2;
    k.w = 2;
    k.n = 2;
    snprintf(k.wb.layer, sizeof k.wb.layer, "relu_2");
    k.wb.M = 2;
    k.wb.s = 1;
    k.wb.N = 2;
    k.wb.targets = targets;
    k.wb.bits = bits;
    k.wb.A = A;
    k.wb.lambda1 = k.wb.lambda2 = 0.01f;
    k.x = x;
    k.y = y;
    k.source_index = src;
    char h[DS_COMMIT_HEX];
    k.format = DS_KEY_FORMAT_V1;  /* published commitments of format 1 keys stay valid */
    commit_ok(&k, h);
    CHECK(!strcmp(h, "90b1c6e633dff61fd29805e215c6d8220289990e46db898dd1ae54ced93ba277"),
          "white-box known answer (format 1): %s", h);
    k.format = DS_KEY_FORMAT_V2;  /* format 2 commits the claim level too */
    k.wb.alpha = 1e-4;
    commit_ok(&k, h);
    CHECK(!strcmp(h, "feff79bc1ecad60e2aa2f4d98a2516b9cbb6bacc90cb1bc89ec16fdd76aee168"),
          "white-box known answer (format 2): %s", h);
    k.wb.alpha = 1e-3;
    commit_ok(&k, h);
    CHECK(strcmp(h, "feff79bc1ecad60e2aa2f4d98a2516b9cbb6bacc90cb1bc89ec16fdd76aee168") != 0,
          "the white-box claim level is not committed");
    /* the current format (3) commits the reference too */
    uint8_t px[8] = {1, 2, 3, 4, 250, 0, 9, 8};
    float prof[4] = {0.25f, 1.5f, 0.0f, 3.0f};
    k.format = 0;
    k.wb.alpha = 1e-4;
    k.wb.probes = 2;
    k.wb.units = 2;
    k.wb.probe_x = px;
    k.wb.profiles = prof;
    commit_ok(&k, h);
    char h3[DS_COMMIT_HEX];
    snprintf(h3, sizeof h3, "%s", h);
    CHECK(!strcmp(h, "2a3db691a6fe859ec55f7d60a86eea79f217ec2a7c94739b40a176b7a62a5d8d"),
          "white-box known answer (format 3): %s", h);
    prof[3] = 3.5f;
    commit_ok(&k, h);
    CHECK(strcmp(h, h3) != 0, "the white-box reference profiles are not committed");
    prof[3] = 3.0f;
    px[7] = 7;
    commit_ok(&k, h);
    CHECK(strcmp(h, h3) != 0, "the white-box probe images are not committed");

    uint8_t bx[2] = {0, 255}, by[1] = {3};
    int64_t bsrc[1] = {-1};
    ds_wm_key b;
    memset(&b, 0, sizeof b);
    b.scheme = DS_WM_BLACKBOX;
    b.classes = 10;
    b.c = 1;
    b.h = 1;
    b.w = 2;
    b.n = 1;
    b.bb.K = 1;
    b.bb.alpha = 1e-4;
    b.x = bx;
    b.y = by;
    b.source_index = bsrc;
    b.format = DS_KEY_FORMAT_V1;
    commit_ok(&b, h);
    CHECK(!strcmp(h, "fb77aaf80f739d86f9347a6f77bd5e2a5857ea7dd372de2f5649b4f33ddb75bd"),
          "black-box known answer (format 1): %s", h);
    b.format = DS_KEY_FORMAT_V2;
    commit_ok(&b, h);
    CHECK(!strcmp(h, "006b45eb97e9d661daadd91c9341c4d090ae836196f527d49c5c02c4eb086f88"),
          "black-box known answer (format 2): %s", h);
    b.format = 0;  /* format 3 leaves black-box keys as they were */
    commit_ok(&b, h);
    CHECK(!strcmp(h, "006b45eb97e9d661daadd91c9341c4d090ae836196f527d49c5c02c4eb086f88"),
          "black-box known answer (format 3): %s", h);
}

/* ---------------------------------------------------------------- hostile files */

/* Open path read-write with HDF5, or fail the test. */
static hid_t h5_open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fopen %s", path);
    return f;
}

static void put_attr(const char *path, const char *name, hid_t file_type, hid_t mem_type, const void *v)
{
    hid_t f = h5_open_rw(path);
    if (f < 0) return;
    if (H5Aexists(f, name) > 0) CHECK(H5Adelete(f, name) >= 0, "delete attribute %s", name);
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, mem_type, v) >= 0, "write attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
}

static void put_attr_str(const char *path, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    put_attr(path, name, t, t, v);
    H5Tclose(t);
}

static void put_attr_int(const char *path, const char *name, int v)
{
    put_attr(path, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}

/* Overwrite element i of dataset name (read whole, change, write whole). */
static void poke(const char *path, const char *name, hid_t mem_type, size_t i, const void *v)
{
    hid_t f = h5_open_rw(path);
    if (f < 0) return;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t es = H5Tget_size(mem_type);
    unsigned char *buf = n > 0 ? malloc((size_t)n * es) : NULL;
    CHECK(buf && (size_t)n > i, "open %s", name);
    if (buf && (size_t)n > i) {
        CHECK(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "read %s", name);
        memcpy(buf + i * es, v, es);
        CHECK(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "write %s", name);
    }
    free(buf);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
}

/* Replace dataset name by a zero-filled one of the given type and shape. */
static void replace_dset(const char *path, const char *name, hid_t type, int ndim, const hsize_t *dims)
{
    hid_t f = h5_open_rw(path);
    if (f < 0) return;
    if (H5Lexists(f, name, H5P_DEFAULT) > 0)
        CHECK(H5Ldelete(f, name, H5P_DEFAULT) >= 0, "delete %s", name);
    hsize_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    void *zero = calloc(n, H5Tget_size(type));
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(zero && d >= 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, zero) >= 0, "create %s",
          name);
    free(zero);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

static void del_link(const char *path, const char *name)
{
    hid_t f = h5_open_rw(path);
    if (f < 0) return;
    CHECK(H5Ldelete(f, name, H5P_DEFAULT) >= 0, "delete %s", name);
    H5Fclose(f);
}

static void bad_magic(const char *p) { put_attr_str(p, "magic", "NOT-A-KEY"); }
static void bad_version(const char *p) { put_attr_int(p, "format_version", 4); }
static void bad_scheme(const char *p) { put_attr_str(p, "scheme", "greybox"); }
static void bad_bits(const char *p) { uint8_t v = 2; poke(p, "whitebox/bits", H5T_NATIVE_UINT8, 5, &v); }
static void bad_target(const char *p) { int v = 10; poke(p, "whitebox/targets", H5T_NATIVE_INT, 1, &v); }
static void dup_target(const char *p) { int v = 3; poke(p, "whitebox/targets", H5T_NATIVE_INT, 1, &v); }
static void nan_A(const char *p) { float v = NAN; poke(p, "whitebox/A", H5T_NATIVE_FLOAT, 9, &v); }
static void bad_label(const char *p) { uint8_t v = 10; poke(p, "images/y", H5T_NATIVE_UINT8, 0, &v); }
static void bad_source(const char *p)
{
    int64_t v = -2;
    poke(p, "images/source_index", H5T_NATIVE_INT64, 3, &v);
}
static void short_A(const char *p)
{
    hsize_t d[2] = {WB_N, WB_M - 1};
    replace_dset(p, "whitebox/A", H5T_IEEE_F32LE, 2, d);
}
static void f64_A(const char *p)
{
    hsize_t d[2] = {WB_N, WB_M};
    replace_dset(p, "whitebox/A", H5T_IEEE_F64LE, 2, d);
}
static void wide_y(const char *p)
{
    hsize_t d[1] = {IMG_N};
    replace_dset(p, "images/y", H5T_STD_I32LE, 1, d);
}
static void put_attr_u64(const char *path, const char *name, uint64_t v)
{
    put_attr(path, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
static void more_n(const char *p) { put_attr_u64(p, "n", IMG_N + 1); }
static void huge_n(const char *p) { put_attr_u64(p, "n", (uint64_t)1 << 40); }
static void huge_image(const char *p)
{
    put_attr_u64(p, "n", 1000000);
    put_attr_int(p, "c", 4);
    put_attr_int(p, "h", 1024);
    put_attr_int(p, "w", 1024);
}
static void huge_A(const char *p)
{
    put_attr_int(p, "N", 65536);
    put_attr_int(p, "M", 1 << 20);
}
static void many_s(const char *p) { put_attr_int(p, "s", 11); }
static void no_source(const char *p) { del_link(p, "images/source_index"); }
static void bad_K(const char *p) { put_attr_int(p, "K", BB_K + 1); }
static void bad_alpha(const char *p)
{
    double v = 1.0;
    put_attr(p, "alpha", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}
static void empty_layer(const char *p) { put_attr_str(p, "layer", ""); }

static void to_model(const char *p)
{
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fcreate %s", p);
    H5Fclose(f);
    put_attr_str(p, "magic", DS_MODEL_MAGIC);
    put_attr_int(p, "format_version", 1);
    put_attr_str(p, "arch", "mnist-mlp");
}

static void to_random(const char *p)
{
    unsigned char buf[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        s = s * 1664525u + 1013904223u;
        buf[i] = (unsigned char)(s >> 24);
    }
    tu_write_file(p, buf, sizeof buf);
}

static void to_truncated(const char *p)
{
    tu_bytes b = tu_read_file(p);
    tu_write_file(p, b.b, b.n / 2);
    free(b.b);
}

static void to_empty(const char *p) { tu_write_file(p, "", 0); }

typedef struct hostile {
    const char *name;
    int blackbox;              /* start from the black-box key */
    void (*spoil)(const char *path);
    const char *phrase;        /* must appear in the message */
} hostile;

static const hostile hostiles[] = {
    {"wrong magic", 0, bad_magic, "not a deepsigns key file (attribute 'magic' is 'NOT-A-KEY'"},
    {"unknown version", 0, bad_version, "key file format version 4 is not supported"},
    {"unknown scheme", 0, bad_scheme, "attribute 'scheme': unknown watermark scheme 'greybox'"},
    {"bit 2", 0, bad_bits, "/whitebox/bits[5] = 2 is not a bit (0 or 1)"},
    {"target out of range", 0, bad_target, "/whitebox/targets[1] = 10 is out of range [0, 10)"},
    {"target twice", 0, dup_target, "/whitebox/targets holds class 3 twice"},
    {"NaN in A", 0, nan_A, "/whitebox/A holds a non-finite value (nan at index 9)"},
    {"label out of range", 0, bad_label, "/images/y[0] = 10 is out of range [0, 10)"},
    {"source index -2", 0, bad_source, "/images/source_index[3] = -2 is negative"},
    {"A shape", 0, short_A, "/whitebox/A has shape 8x15, expected 8x16"},
    {"A float64", 0, f64_A, "/whitebox/A holds 8-byte floats, expected 4-byte floats"},
    {"y int32", 0, wide_y, "/images/y holds 4-byte signed integers, expected 1-byte unsigned integers"},
    {"n vs datasets", 0, more_n, "/images/x has shape 6x1x4x4, expected 7x1x4x4"},
    {"absurd n", 0, huge_n, "attribute 'n' = 1099511627776 is out of range [1, 1000000]"},
    {"absurd images", 0, huge_image, "attributes n x c x h x w = 1000000 x 4 x 1024 x 1024 exceed"},
    {"absurd A", 0, huge_A, "attributes N x M = 65536 x 1048576 exceed 268435456 entries"},
    {"s > classes", 0, many_s, "attribute 's' = 11 exceeds attribute 'classes' = 10"},
    {"missing dataset", 0, no_source, "/images/source_index is missing"},
    {"empty layer", 0, empty_layer, "attribute 'layer' is empty"},
    {"K vs n", 1, bad_K, "attribute 'K' = 6 but attribute 'n' = 5"},
    {"alpha 1", 1, bad_alpha, "attribute 'alpha' = 1 is out of range (0, 1)"},
    {"model file", 0, to_model,
     "attribute 'magic' is 'DEEPSIGNS-MODEL', expected 'DEEPSIGNS-KEY'); it is a model file"},
    {"random bytes", 0, to_random, "not a readable HDF5 file"},
    {"truncated", 0, to_truncated, "not a readable HDF5 file"},
    {"empty file", 1, to_empty, "not a readable HDF5 file"},
};

static void test_hostile_files(void)
{
    ds_wm_key wb, bb;
    memset(&bb, 0, sizeof bb);
    if (!make_wb(&wb) || !make_bb(&bb)) goto done;
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const hostile *h = &hostiles[i];
        char path[TU_PATH_LEN], name[64];
        snprintf(name, sizeof name, "hostile-%zu.h5", i);
        if (!save_ok(h->blackbox ? &bb : &wb, name, path)) continue;
        h->spoil(path);
        ds_wm_key out;
        memset(&out, 0xA5, sizeof out);
        ds_err err = {0};
        int loose = 7;
        ds_status st = ds_key_load(path, &out, &loose, &err);
        CHECK(st != DS_OK, "%s: accepted", h->name);
        CHECK(strstr(err.msg, path) == err.msg, "%s: message does not start with the file: %s", h->name,
              err.msg);
        CHECK(strstr(err.msg, h->phrase) != NULL, "%s: message lacks '%s': %s", h->name, h->phrase,
              err.msg);
        CHECK(is_zeroed(&out), "%s: the key is not zeroed after a refusal", h->name);
        CHECK(loose == 0, "%s: loose_perms %d after a refusal", h->name, loose);
        ds_wm_key_free(&out);
    }
    /* a missing file */
    ds_wm_key out;
    ds_err err = {0};
    char path[TU_PATH_LEN];
    tu_path(path, "no-such-key.h5");
    CHECK(ds_key_load(path, &out, NULL, &err) == DS_EIO, "missing file: %s", err.msg);
    CHECK(strstr(err.msg, "cannot open") != NULL && is_zeroed(&out), "missing file: %s", err.msg);
done:
    ds_wm_key_free(&wb);
    ds_wm_key_free(&bb);
}

static void test_loose_perms(void)
{
    ds_wm_key k, l;
    memset(&l, 0, sizeof l);
    char path[TU_PATH_LEN];
    if (!make_bb(&k) || !save_ok(&k, "perms.h5", path)) goto done;
    static const struct { unsigned mode; int loose; } cases[] = {
        {0644, 1}, {0640, 1}, {0604, 1}, {0600, 0}, {0400, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(chmod(path, cases[i].mode) == 0, "chmod");
        ds_err err = {0};
        int loose = -1;
        CHECK_OK(ds_key_load(path, &l, &loose, &err), &err);
        CHECK(loose == cases[i].loose, "mode %o: loose_perms %d", cases[i].mode, loose);
        ds_wm_key_free(&l);
    }
done:
    ds_wm_key_free(&k);
}

int main(void)
{
    if (tu_root_create("keyfile") != 0) return 1;
    RUN(test_scheme_names);
    RUN(test_key_images_view);
    RUN(test_roundtrip_whitebox);
    RUN(test_roundtrip_blackbox);
    RUN(test_format1_whitebox);
    RUN(test_mode_bytes_overwrite);
    RUN(test_failed_saves_keep_old_key);
    RUN(test_commitment_stable);
    RUN(test_commitment_sensitive);
    RUN(test_commitment_known_answer);
    RUN(test_hostile_files);
    RUN(test_loose_perms);
    tu_root_remove();
    TEST_MAIN_END();
}
