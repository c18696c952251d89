/* owner.h - an owner identity (an Ed25519 key pair, libsodium) and signed,
 * dated commitments, so a claim shows who committed to a key and when they say
 * they did. Files are short text files (docs/owner.md): a secret file (mode
 * 0600), a public file and a signed commitment, each with a magic line and a
 * format version.
 *
 * The signature proves that the holder of the secret key of the public key in
 * the statement signed this commitment, scheme, date and name. The date is the
 * signer's own claim: publishing the statement somewhere dated is what proves
 * when it existed.
 */
#ifndef DEEPSIGNS_OWNER_H
#define DEEPSIGNS_OWNER_H

#include <stdint.h>

#include "deepsigns/status.h"

#define DS_OWNER_SECRET_MAGIC "DEEPSIGNS-OWNER-SECRET"
#define DS_OWNER_PUBLIC_MAGIC "DEEPSIGNS-OWNER-PUBLIC"
#define DS_SIGNED_COMMIT_MAGIC "DEEPSIGNS-SIGNED-COMMITMENT"
typedef enum ds_owner_format {
    DS_OWNER_FORMAT_V1 = 1,
    DS_OWNER_FORMAT_CURRENT = DS_OWNER_FORMAT_V1,
} ds_owner_format;

enum {
    DS_OWNER_NAME_MAX = 128,  /* bytes of a name, NUL included */
    DS_OWNER_FPR_HEX = 17,    /* fingerprint: 16 hex digits + NUL */
    DS_OWNER_DATE_MAX = 21,   /* "2026-12-03T10:15:00Z" + NUL */
};

typedef struct ds_owner {
    char name[DS_OWNER_NAME_MAX]; /* a label chosen by the owner: printable, no newline */
    uint8_t pk[32];               /* Ed25519 public key */
    uint8_t sk[64];               /* secret key; all zero when only the public key is loaded */
    int has_secret;
} ds_owner;

/* A new key pair (randombytes) under name. */
ds_status ds_owner_generate(const char *name, ds_owner *out, ds_err *err);
/* Write the secret file (mode 0600 exactly) or the public file (0644); both
 * atomic, and both refuse to replace an existing file. */
ds_status ds_owner_save_secret(const ds_owner *o, const char *path, ds_err *err);
ds_status ds_owner_save_public(const ds_owner *o, const char *path, ds_err *err);
/* Read a secret file (its secret must give its public key; *loose_perms, if
 * non-NULL, is 1 when group or others may access it) or a public file. */
ds_status ds_owner_load_secret(const char *path, ds_owner *out, int *loose_perms, ds_err *err);
ds_status ds_owner_load_public(const char *path, ds_owner *out, ds_err *err);
/* First 8 bytes of SHA-256(pk), as hex. */
void ds_owner_fingerprint(const uint8_t pk[32], char hex[DS_OWNER_FPR_HEX]);
/* Zero the secret; accepts NULL. */
void ds_owner_wipe(ds_owner *o);

/* A commitment signed by an owner. */
typedef struct ds_signed_commit {
    char commitment[65];          /* 64 lowercase hex digits */
    char scheme[16];              /* "whitebox" | "blackbox" */
    char date[DS_OWNER_DATE_MAX]; /* UTC, as the signer claims it */
    char owner[DS_OWNER_NAME_MAX];
    uint8_t pk[32];
    uint8_t sig[64];              /* Ed25519 over the statement's lines before "signature:" */
} ds_signed_commit;

/* Sign commitment_hex (scheme "whitebox"/"blackbox") as o, dated date (NULL: now). */
ds_status ds_signed_commit_make(const ds_owner *o, const char *commitment_hex, const char *scheme,
                                const char *date, ds_signed_commit *out, ds_err *err);
/* Write (0644, atomic; refuses an existing file) / read and verify the signature
 * (DS_EKEY "PATH: the signature does not verify"; DS_EFORMAT naming the line). */
ds_status ds_signed_commit_save(const ds_signed_commit *s, const char *path, ds_err *err);
ds_status ds_signed_commit_load(const char *path, ds_signed_commit *out, ds_err *err);
/* DS_EKEY unless s was signed by pub, naming both fingerprints. */
ds_status ds_signed_commit_check_owner(const ds_signed_commit *s, const ds_owner *pub, ds_err *err);

#endif
