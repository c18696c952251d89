/* fuzz_key_edit.c - structure-aware libFuzzer target for the key-file reader
 * (ds_key_load_image, src/io/key_file.c and src/io/h5util.c).
 *
 * The first input byte picks a small valid key (white-box or black-box), built
 * in memory at start-up; the rest is a list of edits (h5edit.h) applied to its
 * file by HDF5 itself. The edited file is loaded; a key that loads must save
 * again, load again and keep its commitment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/wm.h"
#include "h5edit.h"
#include "io/h5util.h"

/* Root attributes and object names a key file has or might be given. */
static const char *const names[] = {
    "magic", "format_version", "scheme", "arch", "layer", "classes", "seed", "c", "h", "w",
    "n", "M", "s", "N", "lambda1", "lambda2", "K", "alpha", "whitebox", "images",
    "whitebox/targets", "whitebox/bits", "whitebox/A", "images/x", "images/y",
    "images/source_index",
};

enum { NBASES = 2, KEY_N = 3, KEY_C = 1, KEY_H = 2, KEY_W = 3 };
static void *images[NBASES];
static size_t sizes[NBASES];

static void build_base(int i)
{
    static int targets[2] = {2, 0};
    static uint8_t bits[2 * 4] = {1, 0, 0, 1, 1, 1, 0, 0};
    static float A[4 * 5];
    static uint8_t x[KEY_N * KEY_C * KEY_H * KEY_W];
    static uint8_t y[KEY_N] = {2, 0, 1};
    static int64_t source[KEY_N] = {5, -1, 17};
    for (size_t k = 0; k < sizeof A / sizeof A[0]; k++) A[k] = (float)k / 7.0f - 1.0f;
    for (size_t k = 0; k < sizeof x; k++) x[k] = (uint8_t)(k * 37);
    ds_wm_key key;
    memset(&key, 0, sizeof key);
    snprintf(key.arch, sizeof key.arch, "mnist-mlp");
    key.classes = 3;
    key.seed = 42;
    key.n = KEY_N;
    key.c = KEY_C;
    key.h = KEY_H;
    key.w = KEY_W;
    key.x = x;
    key.y = y;
    key.source_index = source;
    if (i == 0) {
        key.scheme = DS_WM_WHITEBOX;
        snprintf(key.wb.layer, sizeof key.wb.layer, "relu_2");
        key.wb.M = 5;
        key.wb.s = 2;
        key.wb.N = 4;
        key.wb.targets = targets;
        key.wb.bits = bits;
        key.wb.A = A;
        key.wb.lambda1 = 0.0f;
        key.wb.lambda2 = 0.003f;
        key.wb.alpha = 1e-4;
    } else {
        key.scheme = DS_WM_BLACKBOX;
        key.bb.K = KEY_N;
        key.bb.alpha = 1e-4;
    }
    ds_err err = {0};
    if (ds_key_save_image(&key, &images[i], &sizes[i], &err) != DS_OK) {
        fprintf(stderr, "fuzz_key_edit: cannot build base key %d: %s\n", i, err.msg);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dsf_build_bases(build_base, NBASES);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *img;
    size_t n;
    if (dsf_pick_edited(data, size, images, sizes, NBASES, "key", names,
                        sizeof names / sizeof names[0], &img, &n))
        return 0; /* HDF5 could not write what the edits made */
    ds_err err = {0};
    ds_wm_key k, again;
    ds_status st = ds_key_load_image(img, n, "fuzz.key", &k, &err);
    free(img);
    dsf_check_err(st, &err);
    if (st != DS_OK) return 0;
    void *again_img = NULL;
    size_t again_n = 0;
    char c1[DS_COMMIT_HEX], c2[DS_COMMIT_HEX];
    if (ds_key_save_image(&k, &again_img, &again_n, &err) != DS_OK) {
        fprintf(stderr, "fuzz_key_edit: a loaded key does not save: %s\n", err.msg);
        abort();
    }
    if (ds_key_load_image(again_img, again_n, "resaved.key", &again, &err) != DS_OK) {
        fprintf(stderr, "fuzz_key_edit: a resaved key does not load: %s\n", err.msg);
        abort();
    }
    if (ds_key_commitment(&k, c1, &err) != DS_OK || ds_key_commitment(&again, c2, &err) != DS_OK ||
        strcmp(c1, c2) != 0) {
        fprintf(stderr, "fuzz_key_edit: commitments differ after a resave (%s)\n", err.msg);
        abort();
    }
    ds_wm_key_free(&again);
    free(again_img);
    ds_wm_key_free(&k);
    return 0;
}
