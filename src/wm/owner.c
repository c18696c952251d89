/* owner.c - owner identities and signed commitments (include/deepsigns/owner.h,
 * docs/owner.md): Ed25519 and SHA-256 from libsodium, short text files.
 *
 * Every file is "<MAGIC> <version>\n" followed by "key: value\n" lines in a
 * fixed order, nothing else. The signed bytes of a statement are its lines
 * before "signature:", re-serialised from the parsed fields, so an edit to any
 * field breaks the signature.
 */
#include "deepsigns/owner.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "deepsigns/wm.h"
#include "io/h5util.h"     /* ds_io_write_atomic */
#include "io/untrusted.h"  /* ds_io_check_regular */

enum { OWNER_FILE_MAX = 4096 };  /* every file of ours is far smaller */

/* One "key: value" line: the value lives in buf[cap]. */
typedef struct text_field {
    const char *key;
    char *buf;
    size_t cap;
} text_field;

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* "<magic> <version>\n" and the fields[0..n) lines into out[cap]; returns the
 * length, or 0 when it does not fit. */
static size_t text_write(const char *magic, const text_field *f, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    int w = snprintf(out, cap, "%s %d\n", magic, (int)DS_OWNER_FORMAT_CURRENT);
    if (w < 0 || (size_t)w >= cap) return 0;
    len = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(out + len, cap - len, "%s: %s\n", f[i].key, f[i].buf);
        if (w < 0 || (size_t)w >= cap - len) return 0;
        len += (size_t)w;
    }
    return len;
}

/* Read path (a regular file of at most OWNER_FILE_MAX bytes) into buf, NUL-terminated. */
static ds_status text_read(const char *path, const char *what, char *buf, size_t cap, ds_err *err)
{
    struct stat sb;
    ds_status st = ds_io_check_regular(path, err);
    if (st) return st;
    if (stat(path, &sb) != 0) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (sb.st_size > OWNER_FILE_MAX || (size_t)sb.st_size >= cap)
        return ds_err_set(err, DS_EFORMAT, "%s: %lld bytes is too large for %s (at most %d)", path,
                          (long long)sb.st_size, what, OWNER_FILE_MAX);
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return ds_err_set(err, DS_EIO, "%s: read error", path);
    buf[n] = '\0';
    if (strlen(buf) != n) return ds_err_set(err, DS_EFORMAT, "%s: not a text file (a NUL byte)", path);
    return DS_OK;
}

/* Parse text as magic's format: the header line, then exactly fields[0..n). */
static ds_status text_parse(const char *path, const char *what, const char *magic, char *text,
                            const text_field *f, size_t n, ds_err *err)
{
    char *nl = strchr(text, '\n');
    size_t ml = strlen(magic);
    if (!nl || strncmp(text, magic, ml) || text[ml] != ' ')
        return ds_err_set(err, DS_EFORMAT, "%s: not a deepsigns %s (line 1 is not '%s %d')", path,
                          what, magic, (int)DS_OWNER_FORMAT_CURRENT);
    *nl = '\0';
    char *end;
    long v = strtol(text + ml + 1, &end, 10);
    if (*end || end == text + ml + 1)
        return ds_err_set(err, DS_EFORMAT, "%s: line 1: bad format version '%s'", path, text + ml + 1);
    if (v != DS_OWNER_FORMAT_CURRENT)
        return ds_err_set(err, DS_EFORMAT, "%s: %s format version %ld is not supported (this build "
                          "reads version %d)", path, what, v, (int)DS_OWNER_FORMAT_CURRENT);
    char *line = nl + 1;
    for (size_t i = 0; i < n; i++) {
        int ln = (int)i + 2;
        size_t kl = strlen(f[i].key);
        if (!(nl = strchr(line, '\n')))
            return ds_err_set(err, DS_EFORMAT, "%s: line %d: missing '%s:' (truncated?)", path, ln,
                              f[i].key);
        *nl = '\0';
        if (strncmp(line, f[i].key, kl) || line[kl] != ':' || line[kl + 1] != ' ')
            return ds_err_set(err, DS_EFORMAT, "%s: line %d: expected '%s: ...'", path, ln, f[i].key);
        const char *val = line + kl + 2;
        size_t vl = strlen(val);
        if (vl == 0 || vl >= f[i].cap)
            return ds_err_set(err, DS_EFORMAT, "%s: line %d: '%s' is empty or longer than %zu bytes",
                              path, ln, f[i].key, f[i].cap - 1);
        for (size_t j = 0; j < vl; j++)
            if ((unsigned char)val[j] < 0x20 || val[j] == 0x7f)
                return ds_err_set(err, DS_EFORMAT, "%s: line %d: a control character in '%s'", path,
                                  ln, f[i].key);
        memcpy(f[i].buf, val, vl + 1);
        line = nl + 1;
    }
    if (*line) return ds_err_set(err, DS_EFORMAT, "%s: line %zu: unexpected text after the last field", path, n + 2);
    return DS_OK;
}

/* Exactly 2*n lowercase hex digits into out[n]. */
static ds_status hex_decode(const char *path, const char *key, const char *hex, uint8_t *out,
                            size_t n, ds_err *err)
{
    size_t bin = 0;
    if (strlen(hex) != 2 * n || strspn(hex, "0123456789abcdef") != 2 * n ||
        sodium_hex2bin(out, n, hex, 2 * n, NULL, &bin, NULL) != 0 || bin != n)
        return ds_err_set(err, DS_EFORMAT, "%s: '%s' is not %zu lowercase hex digits", path, key, 2 * n);
    return DS_OK;
}

static ds_status check_name(const char *name, ds_err *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= DS_OWNER_NAME_MAX)
        return ds_err_set(err, DS_EINVAL, "owner name: 1 to %d bytes, got %zu", DS_OWNER_NAME_MAX - 1, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return ds_err_set(err, DS_EINVAL, "owner name: no control characters or newlines");
    return DS_OK;
}

static ds_status sodium_ready(ds_err *err)
{
    return sodium_init() < 0 ? ds_err_set(err, DS_ELIB, "libsodium failed to initialise") : DS_OK;
}

/* Write text atomically with mode, refusing to replace path. */
static ds_status save_new(const char *path, const char *text, size_t n, int mode, ds_err *err)
{
    struct stat sb;
    if (!path || !path[0]) return ds_err_set(err, DS_EINVAL, "no path to write");
    if (lstat(path, &sb) == 0)
        return ds_err_set(err, DS_EINVAL, "%s exists: refusing to replace it (remove it or choose another path)", path);
    if (n == 0) return ds_err_set(err, DS_EINVAL, "%s: the record does not fit", path);
    return ds_io_write_atomic(path, text, n, mode, err);
}

/* ------------------------------------------------------------ identities */

ds_status ds_owner_generate(const char *name, ds_owner *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    ds_status st = check_name(name, err);
    if (!st) st = sodium_ready(err);
    if (st) return st;
    if (crypto_sign_keypair(out->pk, out->sk) != 0)
        return ds_err_set(err, DS_ELIB, "libsodium could not make a key pair");
    snprintf(out->name, sizeof out->name, "%s", name);
    out->has_secret = 1;
    return DS_OK;
}

void ds_owner_fingerprint(const uint8_t pk[32], char hex[DS_OWNER_FPR_HEX])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2hex(hex, DS_OWNER_FPR_HEX, h, (DS_OWNER_FPR_HEX - 1) / 2);
}

void ds_owner_wipe(ds_owner *o)
{
    if (o) sodium_memzero(o, sizeof *o);
}

ds_status ds_owner_save_secret(const ds_owner *o, const char *path, ds_err *err)
{
    if (!o->has_secret) return ds_err_set(err, DS_EINVAL, "%s: no secret key to save", path);
    char pk[65], sk[129], text[OWNER_FILE_MAX];
    sodium_bin2hex(pk, sizeof pk, o->pk, sizeof o->pk);
    sodium_bin2hex(sk, sizeof sk, o->sk, sizeof o->sk);
    const text_field f[] = {{"name", (char *)o->name, 0}, {"public", pk, 0}, {"secret", sk, 0}};
    size_t n = text_write(DS_OWNER_SECRET_MAGIC, f, NFIELDS(f), text, sizeof text);
    ds_status st = save_new(path, text, n, 0600, err);  /* exactly 0600, whatever the umask */
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(text, sizeof text);
    return st;
}

ds_status ds_owner_save_public(const ds_owner *o, const char *path, ds_err *err)
{
    char pk[65], fpr[DS_OWNER_FPR_HEX], text[OWNER_FILE_MAX];
    sodium_bin2hex(pk, sizeof pk, o->pk, sizeof o->pk);
    ds_owner_fingerprint(o->pk, fpr);
    const text_field f[] = {{"name", (char *)o->name, 0}, {"public", pk, 0}, {"fingerprint", fpr, 0}};
    size_t n = text_write(DS_OWNER_PUBLIC_MAGIC, f, NFIELDS(f), text, sizeof text);
    return save_new(path, text, n, 0644, err);
}

/* A secret file given where a public one is expected gets a hint. */
static ds_status load_public_text(const char *path, char *text, ds_owner *out, ds_err *err)
{
    char pk[65], fpr[DS_OWNER_FPR_HEX], want[DS_OWNER_FPR_HEX];
    if (!strncmp(text, DS_OWNER_SECRET_MAGIC, strlen(DS_OWNER_SECRET_MAGIC)))
        return ds_err_set(err, DS_EINVAL, "%s is a secret owner file; give the public one (.pub)", path);
    const text_field f[] = {{"name", out->name, sizeof out->name}, {"public", pk, sizeof pk},
                            {"fingerprint", fpr, sizeof fpr}};
    ds_status st = text_parse(path, "owner public file", DS_OWNER_PUBLIC_MAGIC, text, f, NFIELDS(f), err);
    if (!st) st = hex_decode(path, "public", pk, out->pk, sizeof out->pk, err);
    if (st) return st;
    ds_owner_fingerprint(out->pk, want);
    if (strcmp(fpr, want))
        return ds_err_set(err, DS_EFORMAT, "%s: fingerprint %s is not that of its public key (%s)", path,
                          fpr, want);
    return DS_OK;
}

ds_status ds_owner_load_public(const char *path, ds_owner *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    char text[OWNER_FILE_MAX + 1];
    ds_status st = sodium_ready(err);
    if (!st) st = text_read(path, "an owner public file", text, sizeof text, err);
    if (!st) st = load_public_text(path, text, out, err);
    if (st) ds_owner_wipe(out);
    return st;
}

ds_status ds_owner_load_secret(const char *path, ds_owner *out, int *loose_perms, ds_err *err)
{
    memset(out, 0, sizeof *out);
    char text[OWNER_FILE_MAX + 1], pk[65], sk[129];
    uint8_t seed[32], derived[32], dsk[64];
    struct stat sb;
    const text_field f[] = {{"name", out->name, sizeof out->name}, {"public", pk, sizeof pk},
                            {"secret", sk, sizeof sk}};
    ds_status st = sodium_ready(err);
    if (!st) st = text_read(path, "an owner secret file", text, sizeof text, err);
    if (!st) st = text_parse(path, "owner secret file", DS_OWNER_SECRET_MAGIC, text, f, NFIELDS(f), err);
    if (!st) st = hex_decode(path, "public", pk, out->pk, sizeof out->pk, err);
    if (!st) st = hex_decode(path, "secret", sk, out->sk, sizeof out->sk, err);
    /* the whole secret must follow from its seed and give the public key */
    if (!st && (crypto_sign_ed25519_sk_to_seed(seed, out->sk) != 0 ||
                crypto_sign_seed_keypair(derived, dsk, seed) != 0 ||
                sodium_memcmp(derived, out->pk, sizeof derived) != 0 ||
                sodium_memcmp(dsk, out->sk, sizeof dsk) != 0))
        st = ds_err_set(err, DS_EFORMAT, "%s: the secret key does not belong to the public key", path);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(dsk, sizeof dsk);
    if (!st && loose_perms) *loose_perms = stat(path, &sb) == 0 && (sb.st_mode & 077) != 0;
    sodium_memzero(text, sizeof text);
    sodium_memzero(sk, sizeof sk);
    if (st) ds_owner_wipe(out);
    else out->has_secret = 1;
    return st;
}

/* ------------------------------------------------------------ signed commitments */

/* The statement's fields, in file order; hex buffers are the caller's. */
static size_t statement_fields(ds_signed_commit *s, char pk[65], char sig[129], text_field f[7])
{
    text_field all[] = {{"commitment", s->commitment, sizeof s->commitment},
                        {"scheme", s->scheme, sizeof s->scheme},
                        {"date", s->date, sizeof s->date},
                        {"owner", s->owner, sizeof s->owner},
                        {"public", pk, 65},
                        {"signature", sig, 129}};
    memcpy(f, all, sizeof all);
    return NFIELDS(all);
}

/* The signed bytes: every line before "signature:". */
static size_t statement_signed(ds_signed_commit *s, char *out, size_t cap)
{
    char pk[65], sig[129];
    text_field f[7];
    size_t n = statement_fields(s, pk, sig, f);
    sodium_bin2hex(pk, sizeof pk, s->pk, sizeof s->pk);
    return text_write(DS_SIGNED_COMMIT_MAGIC, f, n - 1, out, cap);
}

static ds_status check_statement(const ds_signed_commit *s, const char *who, ds_err *err)
{
    size_t n = strlen(s->commitment);
    if (n != 64 || strspn(s->commitment, "0123456789abcdef") != 64)
        return ds_err_set(err, DS_EFORMAT, "%s: the commitment is not 64 lowercase hex digits", who);
    if (strcmp(s->scheme, "whitebox") && strcmp(s->scheme, "blackbox"))
        return ds_err_set(err, DS_EFORMAT, "%s: scheme '%s' is not whitebox or blackbox", who, s->scheme);
    int Y, M, D, h, m, sec;
    char z = 0, tail = 0;
    if (strlen(s->date) != 20 ||
        sscanf(s->date, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &Y, &M, &D, &h, &m, &sec, &z, &tail) != 7 ||
        z != 'Z' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return ds_err_set(err, DS_EFORMAT, "%s: date '%s' is not UTC as 2026-12-03T10:15:00Z", who, s->date);
    return DS_OK;
}

ds_status ds_signed_commit_make(const ds_owner *o, const char *commitment_hex, const char *scheme,
                                const char *date, ds_signed_commit *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    if (!o->has_secret) return ds_err_set(err, DS_EINVAL, "signing a commitment needs the owner's secret file");
    ds_status st = sodium_ready(err);
    if (st) return st;
    snprintf(out->commitment, sizeof out->commitment, "%s", commitment_hex);
    snprintf(out->scheme, sizeof out->scheme, "%s", scheme);
    if (date) {
        snprintf(out->date, sizeof out->date, "%s", date);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
            strftime(out->date, sizeof out->date, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            return ds_err_set(err, DS_EIO, "cannot read the clock for the signature's date");
    }
    snprintf(out->owner, sizeof out->owner, "%s", o->name);
    memcpy(out->pk, o->pk, sizeof out->pk);
    if ((st = check_statement(out, "signed commitment", err))) return st;
    char text[OWNER_FILE_MAX];
    size_t n = statement_signed(out, text, sizeof text);
    if (n == 0) return ds_err_set(err, DS_EINVAL, "signed commitment: the statement does not fit");
    if (crypto_sign_detached(out->sig, NULL, (const unsigned char *)text, n, o->sk) != 0)
        return ds_err_set(err, DS_ELIB, "libsodium could not sign the commitment");
    return DS_OK;
}

ds_status ds_signed_commit_save(const ds_signed_commit *s, const char *path, ds_err *err)
{
    ds_signed_commit c = *s;
    char pk[65], sig[129], text[OWNER_FILE_MAX];
    text_field f[7];
    size_t nf = statement_fields(&c, pk, sig, f);
    sodium_bin2hex(pk, sizeof pk, c.pk, sizeof c.pk);
    sodium_bin2hex(sig, sizeof sig, c.sig, sizeof c.sig);
    size_t n = text_write(DS_SIGNED_COMMIT_MAGIC, f, nf, text, sizeof text);
    return save_new(path, text, n, 0644, err);  /* meant to be published */
}

ds_status ds_signed_commit_load(const char *path, ds_signed_commit *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    char text[OWNER_FILE_MAX + 1], pk[65], sig[129], msg[OWNER_FILE_MAX];
    text_field f[7];
    size_t nf = statement_fields(out, pk, sig, f);
    ds_status st = sodium_ready(err);
    if (!st) st = text_read(path, "a signed commitment", text, sizeof text, err);
    if (!st) st = text_parse(path, "signed commitment", DS_SIGNED_COMMIT_MAGIC, text, f, nf, err);
    if (!st) st = hex_decode(path, "public", pk, out->pk, sizeof out->pk, err);
    if (!st) st = hex_decode(path, "signature", sig, out->sig, sizeof out->sig, err);
    if (!st) st = check_statement(out, path, err);
    if (st) return st;
    size_t n = statement_signed(out, msg, sizeof msg);
    if (n == 0 || crypto_sign_verify_detached(out->sig, (const unsigned char *)msg, n, out->pk) != 0)
        return ds_err_set(err, DS_EKEY, "%s: the signature does not verify (the statement was altered "
                          "or not signed by the key it names)", path);
    return DS_OK;
}

ds_status ds_signed_commit_check_owner(const ds_signed_commit *s, const ds_owner *pub, ds_err *err)
{
    if (sodium_memcmp(s->pk, pub->pk, sizeof s->pk) == 0) return DS_OK;
    char a[DS_OWNER_FPR_HEX], b[DS_OWNER_FPR_HEX];
    ds_owner_fingerprint(s->pk, a);
    ds_owner_fingerprint(pub->pk, b);
    return ds_err_set(err, DS_EKEY, "the commitment was signed by owner %s, not by %s (%s)", a, b, pub->name);
}
