/* key.c - watermark keys in memory: freeing, scheme names, the key images as a
 * dataset view, and the commitment.
 *
 * The commitment is SHA-256 (libsodium) over the key's canonical bytes, laid out
 * in docs/key-file.md: a version tag, then every secret as a fixed-width
 * little-endian field in a fixed order. Each field is serialised byte by byte
 * (never a struct or array memcpy), so the hash is the same on every platform.
 * The seed and the architecture name are provenance, not secrets, and are left
 * out.
 */
#include "deepsigns/wm.h"

#include <float.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* binary32 / binary64 are what the layout promises; refuse to build otherwise. */
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               "float must be IEEE-754 binary32");
_Static_assert(sizeof(double) == 8 && DBL_MANT_DIG == 53 && DBL_MAX_EXP == 1024,
               "double must be IEEE-754 binary64");

/* The first bytes hashed, NUL included: names the layout, so a new one never
 * collides. Version 2 adds the white-box claim level, version 3 the white-box
 * reference (probes and profiles); a key of an older format keeps
 * the layout (and so the commitment) it was published with. */
static const char COMMIT_TAG_V1[] = "DEEPSIGNS-COMMIT-V1";
static const char COMMIT_TAG_V2[] = "DEEPSIGNS-COMMIT-V2";
static const char COMMIT_TAG_V3[] = "DEEPSIGNS-COMMIT-V3"; /* + the reference */

/* The format a key is saved and committed as (0 in memory: the current one). */
static int key_format(const ds_wm_key *k) { return k->format ? k->format : DS_KEY_FORMAT_CURRENT; }

/* ------------------------------------------------------------ basics */

void ds_wm_key_free(ds_wm_key *k)
{
    if (!k) return;
    free(k->wb.targets);
    free(k->wb.bits);
    free(k->wb.A);
    free(k->wb.probe_x);
    free(k->wb.profiles);
    free(k->x);
    free(k->y);
    free(k->source_index);
    memset(k, 0, sizeof *k);
}

double ds_wm_key_alpha(const ds_wm_key *k)
{
    if (k->scheme == DS_WM_BLACKBOX) return k->bb.alpha;
    return key_format(k) == DS_KEY_FORMAT_V1 ? DS_WB_ALPHA : k->wb.alpha;
}

const char *ds_wm_scheme_name(ds_wm_scheme s)
{
    switch (s) {
    case DS_WM_WHITEBOX: return "whitebox";
    case DS_WM_BLACKBOX: return "blackbox";
    default: return "unknown";
    }
}

ds_status ds_wm_scheme_parse(const char *s, ds_wm_scheme *out, ds_err *err)
{
    static const ds_wm_scheme all[] = {DS_WM_WHITEBOX, DS_WM_BLACKBOX};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, ds_wm_scheme_name(all[i]))) {
            *out = all[i];
            return DS_OK;
        }
    return ds_err_set(err, DS_EINVAL,
                      "unknown watermark scheme '%s' (expected 'whitebox' or 'blackbox')",
                      s ? s : "(null)");
}

ds_dataset ds_wm_key_images(const ds_wm_key *k)
{
    ds_dataset d = {.n = k->n, .c = k->c, .h = k->h, .w = k->w, .num_classes = k->classes,
                    .x = k->x, .y = k->y, .owns = 0};
    return d;
}

/* ------------------------------------------------------------ canonical bytes */

enum { COMMIT_CHUNK = 4096 };

/* Canonical bytes are gathered in chunks and fed to SHA-256. */
typedef struct commit_sink {
    crypto_hash_sha256_state sha;
    unsigned char buf[COMMIT_CHUNK];
    size_t len;
    int failed;               /* a libsodium call reported an error */
} commit_sink;

static void sink_flush(commit_sink *s)
{
    if (s->len && crypto_hash_sha256_update(&s->sha, s->buf, s->len) != 0) s->failed = 1;
    s->len = 0;
}

static void put_bytes(commit_sink *s, const void *p, size_t n)
{
    if (n == 0) return;
    if (s->len + n > COMMIT_CHUNK) sink_flush(s);
    if (n >= COMMIT_CHUNK) {
        if (crypto_hash_sha256_update(&s->sha, p, n) != 0) s->failed = 1;
        return;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Little-endian, `width` bytes of v. */
static void put_le(commit_sink *s, uint64_t v, int width)
{
    unsigned char b[8];
    for (int i = 0; i < width; i++) b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(s, b, (size_t)width);
}

static void put_u32(commit_sink *s, uint32_t v) { put_le(s, v, 4); }
static void put_u64(commit_sink *s, uint64_t v) { put_le(s, v, 8); }

static void put_f32(commit_sink *s, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);  /* the binary32 bit pattern of one scalar */
    put_le(s, u, 4);
}

static void put_f64(commit_sink *s, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    put_le(s, u, 8);
}

/* The key must be structurally sound to be serialised: a known scheme,
 * non-negative counts and an array wherever a count says there is data.
 * (Ranges and contents are the key file's business.) */
static ds_status commit_check(const ds_wm_key *k, ds_err *err)
{
    if (k->scheme != DS_WM_WHITEBOX && k->scheme != DS_WM_BLACKBOX)
        return ds_err_set(err, DS_EINVAL, "commitment: key scheme %d is unknown", (int)k->scheme);
    if (k->format < 0 || k->format > DS_KEY_FORMAT_CURRENT)
        return ds_err_set(err, DS_EINVAL, "commitment: key format %d is unknown", k->format);
    if (k->classes < 0 || k->c < 0 || k->h < 0 || k->w < 0)
        return ds_err_set(err, DS_EINVAL, "commitment: negative classes or image shape in the key");
    if (k->n > 0 && (!k->x || !k->y || !k->source_index))
        return ds_err_set(err, DS_EINVAL, "commitment: the key has %zu images but no image arrays",
                          k->n);
    if (k->scheme == DS_WM_BLACKBOX)
        return k->bb.K >= 0 ? DS_OK
                            : ds_err_set(err, DS_EINVAL, "commitment: negative K = %d", k->bb.K);
    const ds_wb_key *w = &k->wb;
    if (w->M < 0 || w->s < 0 || w->N < 0)
        return ds_err_set(err, DS_EINVAL, "commitment: negative M, s or N in the key");
    if ((w->s > 0 && !w->targets) || ((size_t)w->s * (size_t)w->N > 0 && !w->bits) ||
        ((size_t)w->N * (size_t)w->M > 0 && !w->A))
        return ds_err_set(err, DS_EINVAL, "commitment: the white-box key lacks its targets, bits or A");
    if (w->probes < 0 || w->units < 0 || (w->probes > 0 && (!w->probe_x || !w->profiles)))
        return ds_err_set(err, DS_EINVAL, "commitment: the white-box key's reference is incomplete");
    return DS_OK;
}

/* k_chw: bytes of one image (the probes have the key images' shape). */
static void put_whitebox(commit_sink *s, const ds_wb_key *w, int format, size_t k_chw)
{
    size_t len = strnlen(w->layer, sizeof w->layer);
    put_u32(s, (uint32_t)len);
    put_bytes(s, w->layer, len);
    put_u32(s, (uint32_t)w->M);
    put_u32(s, (uint32_t)w->s);
    put_u32(s, (uint32_t)w->N);
    for (int i = 0; i < w->s; i++) put_u32(s, (uint32_t)w->targets[i]);
    put_bytes(s, w->bits, (size_t)w->s * (size_t)w->N);
    for (size_t i = 0, na = (size_t)w->N * (size_t)w->M; i < na; i++) put_f32(s, w->A[i]);
    put_f32(s, w->lambda1);
    put_f32(s, w->lambda2);
    if (format >= DS_KEY_FORMAT_V2) put_f64(s, w->alpha);
    if (format >= DS_KEY_FORMAT_V3) {
        put_u32(s, (uint32_t)w->probes);
        put_u32(s, (uint32_t)w->units);
        put_bytes(s, w->probe_x, (size_t)w->probes * (size_t)k_chw);
        for (size_t i = 0, np = (size_t)w->units * (size_t)w->probes; i < np; i++)
            put_f32(s, w->profiles[i]);
    }
}

/* The canonical bytes of k, in the order of docs/key-file.md. */
static void put_key(commit_sink *s, const ds_wm_key *k)
{
    const int format = key_format(k);
    /* format 3 changes only white-box keys: a black-box key commits as before */
    if (format == DS_KEY_FORMAT_V1)
        put_bytes(s, COMMIT_TAG_V1, sizeof COMMIT_TAG_V1);
    else if (format == DS_KEY_FORMAT_V2 || k->scheme == DS_WM_BLACKBOX)
        put_bytes(s, COMMIT_TAG_V2, sizeof COMMIT_TAG_V2);
    else
        put_bytes(s, COMMIT_TAG_V3, sizeof COMMIT_TAG_V3);
    put_u32(s, (uint32_t)k->scheme);
    put_u32(s, (uint32_t)k->classes);
    put_u32(s, (uint32_t)k->c);
    put_u32(s, (uint32_t)k->h);
    put_u32(s, (uint32_t)k->w);
    put_u64(s, (uint64_t)k->n);
    if (k->scheme == DS_WM_WHITEBOX) {
        put_whitebox(s, &k->wb, format, (size_t)k->c * (size_t)k->h * (size_t)k->w);
    } else {
        put_u32(s, (uint32_t)k->bb.K);
        put_f64(s, k->bb.alpha);
    }
    put_bytes(s, k->x, k->n * (size_t)k->c * (size_t)k->h * (size_t)k->w);
    put_bytes(s, k->y, k->n);
    for (size_t i = 0; i < k->n; i++) put_u64(s, (uint64_t)k->source_index[i]);
}

ds_status ds_key_commitment(const ds_wm_key *k, char hex[DS_COMMIT_HEX], ds_err *err)
{
    hex[0] = '\0';
    ds_status st = commit_check(k, err);
    if (st) return st;
    if (sodium_init() < 0) return ds_err_set(err, DS_ELIB, "commitment: libsodium failed to initialise");
    commit_sink s;
    s.len = 0;
    s.failed = crypto_hash_sha256_init(&s.sha) != 0;
    put_key(&s, k);
    sink_flush(&s);
    unsigned char digest[crypto_hash_sha256_BYTES];
    if (!s.failed && crypto_hash_sha256_final(&s.sha, digest) != 0) s.failed = 1;
    int failed = s.failed;
    sodium_memzero(&s, sizeof s);  /* it held secrets */
    if (failed) return ds_err_set(err, DS_ELIB, "commitment: libsodium SHA-256 failed");
    sodium_bin2hex(hex, DS_COMMIT_HEX, digest, sizeof digest);
    return DS_OK;
}
