/* fuzz_idx.c - libFuzzer target for the IDX reader (ds_idx_load, src/data/idx.c).
 *
 * The input is one IDX file, raw or gzipped, written to a temporary file and
 * loaded twice: as the images file (beside a labels file made to match the count
 * it announces) and as the labels file (beside 1x1 images made to match). The
 * partner is built from the first bytes of the input read through zlib, so a
 * gzipped input gets a matching partner too; a count too large for a partner
 * (more than DSF_IDX_MAX_PARTNER items) gives a partner with only its header,
 * which the reader must refuse as truncated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deepsigns/data.h"
#include "fuzz_util.h"

enum { DSF_IDX_MAX_PARTNER = 1 << 16, DSF_IDX_CLASSES = 10 };

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* The item count announced by the (possibly gzipped) file at path, 1 if unreadable. */
static uint32_t peek_count(const char *path)
{
    uint8_t hdr[8];
    gzFile gz = gzopen(path, "rb");
    if (!gz) return 1;
    int got = gzread(gz, hdr, sizeof hdr);
    (void)gzclose(gz);
    return got == (int)sizeof hdr ? be32(hdr + 4) : 1;
}

/* An IDX file at path with magic, the dimensions dims[ndims] and, if the count
 * dims[0] is small enough, items of `per` zero bytes (label 0, black pixel). */
static void write_partner(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                          size_t per)
{
    size_t hdr = 4 + 4 * (size_t)ndims;
    size_t body = dims[0] <= DSF_IDX_MAX_PARTNER ? (size_t)dims[0] * per : 0;
    uint8_t *buf = calloc(1, hdr + body);
    if (!buf) dsf_die("calloc");
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    dsf_write(path, buf, hdr + body);
    free(buf);
}

static void load(const char *images, const char *labels)
{
    ds_dataset d;
    ds_err err = {0};
    ds_status st = ds_idx_load(images, labels, DSF_IDX_CLASSES, &d, &err);
    dsf_check_err(st, &err);
    if (st == DS_OK) {
        /* a loaded dataset must be what it claims: ASan checks the last bytes */
        size_t bytes = d.n * (size_t)d.c * (size_t)d.h * (size_t)d.w;
        if (d.n == 0 || d.c != 1 || bytes == 0 || !d.x || !d.y) abort();
        volatile uint8_t last = d.x[bytes - 1];
        (void)last;
        for (size_t i = 0; i < d.n; i++)
            if (d.y[i] >= DSF_IDX_CLASSES) abort();
        ds_dataset_free(&d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *input = dsf_path(0, "input-idx");
    const char *partner = dsf_path(1, "partner-idx");
    dsf_write(input, data, size);
    uint32_t n = peek_count(input);

    uint32_t lab_dims[1] = {n};
    write_partner(partner, 0x00000801u, lab_dims, 1, 1);
    load(input, partner);

    uint32_t img_dims[3] = {n, 1, 1};
    write_partner(partner, 0x00000803u, img_dims, 3, 1);
    load(partner, input);
    return 0;
}
