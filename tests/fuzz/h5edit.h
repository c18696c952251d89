/* h5edit.h - structure-aware fuzzing of the HDF5 file readers (fuzz_model_edit.c,
 * fuzz_key_edit.c).
 *
 * Fuzzing the bytes of an HDF5 file mostly exercises HDF5's own decoder (which
 * crashes on some damaged files, docs/fuzzing.md) and seldom reaches our checks.
 * These targets instead read the fuzz input as a list of edits that HDF5 itself
 * applies to a valid file: every file they produce is well-formed HDF5, but its
 * attributes and datasets may have any name, type, shape, dataspace, storage
 * layout, fill value and contents, links may be soft, external, dangling or
 * cyclic, and objects may be missing or of the wrong kind.
 *
 *   dsf_in                    the fuzz input, read front to back (zeros when
 *                             exhausted)
 *   dsf_h5_edit(f, in, names, nnames)
 *                             apply edits to the open, writable file f until the
 *                             input is used up; names: attribute and link names to
 *                             draw from besides those the file already has
 * A failed edit (HDF5 refuses it) is skipped: only the file that results matters.
 */
#ifndef DEEPSIGNS_FUZZ_H5EDIT_H
#define DEEPSIGNS_FUZZ_H5EDIT_H

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/h5util.h"

typedef struct dsf_in {
    const uint8_t *p;
    size_t n;
} dsf_in;

static inline uint8_t in_u8(dsf_in *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static inline uint32_t in_u16(dsf_in *in)
{
    uint32_t hi = in_u8(in);
    return hi << 8 | in_u8(in);
}

/* One of 0..count-1 (count >= 1). */
static inline size_t in_pick(dsf_in *in, size_t count)
{
    return count <= 256 ? in_u8(in) % count : in_u16(in) % count;
}

/* n bytes into buf, zeros past the end of the input. */
static inline void in_bytes(dsf_in *in, void *buf, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    memcpy(buf, in->p, k);
    memset((uint8_t *)buf + k, 0, n - k);
    in->p += k;
    in->n -= k;
}

enum { DSF_H5_MAX_OBJS = 96, DSF_H5_NAME = 160, DSF_H5_MAX_DATA = 1 << 16 };

/* The objects of the file (root first), by path, with their kind. */
typedef struct dsf_objs {
    int n;
    char path[DSF_H5_MAX_OBJS][DSF_H5_NAME];
    int is_group[DSF_H5_MAX_OBJS];
} dsf_objs;

static herr_t dsf_visit_cb(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    dsf_objs *o = data;
    if (o->n >= DSF_H5_MAX_OBJS) return 1;
    if (strlen(name) + 2 > DSF_H5_NAME) return 0;
    snprintf(o->path[o->n], DSF_H5_NAME, "/%s", name);
    int is_group = 0;
    if (info->type == H5L_TYPE_HARD) {
        hid_t obj = H5Oopen(root, name, H5P_DEFAULT);
        if (obj >= 0) {
            is_group = H5Iget_type(obj) == H5I_GROUP;
            (void)H5Oclose(obj);
        }
    }
    o->is_group[o->n++] = is_group;
    return 0;
}

static inline void dsf_objs_collect(hid_t f, dsf_objs *o)
{
    o->n = 1;
    strcpy(o->path[0], "/");
    o->is_group[0] = 1;
    (void)H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, dsf_visit_cb, o);
}

/* A name: one of the file's paths, one of names[], or a few bytes of the input. */
static inline void dsf_pick_name(dsf_in *in, const dsf_objs *o, const char *const *names,
                                 size_t nnames, int want_path, char *buf, size_t len)
{
    size_t how = in_pick(in, 4);
    if (how == 0 && want_path) {
        snprintf(buf, len, "%s", o->path[in_pick(in, (size_t)o->n)]);
    } else if (how <= 2 && nnames) {
        const char *group = want_path ? o->path[in_pick(in, (size_t)o->n)] : "";
        const char *sep = want_path && strcmp(group, "/") ? "/" : "";
        snprintf(buf, len, "%s%s%s", group, sep, names[in_pick(in, nnames)]);
    } else {
        size_t k = 1 + in_pick(in, 12), i;
        for (i = 0; i < k && i + 1 < len; i++) {
            char c = (char)in_u8(in);
            buf[i] = c ? c : 'x';
        }
        buf[i] = '\0';
    }
}

/* A datatype for values of an attribute or dataset; *vlen_str / *vlen_seq say that
 * memory holds char * / hvl_t elements. The caller closes it. */
static inline hid_t dsf_pick_type(dsf_in *in, int *vlen_str, int *vlen_seq)
{
    static const hid_t *const fixed[] = {
        &H5T_STD_I8LE_g,  &H5T_STD_U8LE_g,  &H5T_STD_I16BE_g,  &H5T_STD_I32LE_g,
        &H5T_STD_U32LE_g, &H5T_STD_I64LE_g, &H5T_STD_U64LE_g,  &H5T_STD_I32BE_g,
        &H5T_IEEE_F32LE_g, &H5T_IEEE_F64LE_g, &H5T_IEEE_F32BE_g, &H5T_STD_B8LE_g,
    };
    enum { NFIXED = sizeof fixed / sizeof fixed[0] };
    *vlen_str = *vlen_seq = 0;
    H5open();
    size_t k = in_pick(in, NFIXED + 6);
    if (k < NFIXED) return H5Tcopy(*fixed[k]);
    hid_t t = -1;
    switch (k - NFIXED) {
    case 0: /* fixed-length string */
        t = H5Tcopy(H5T_C_S1);
        if (t >= 0) {
            (void)H5Tset_size(t, 1 + in_pick(in, 80));
            (void)H5Tset_strpad(t, (H5T_str_t)in_pick(in, 3));
            (void)H5Tset_cset(t, in_pick(in, 2) ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        }
        return t;
    case 1: /* variable-length string */
        t = H5Tcopy(H5T_C_S1);
        if (t >= 0) (void)H5Tset_size(t, H5T_VARIABLE);
        *vlen_str = 1;
        return t;
    case 2: { /* compound */
        t = H5Tcreate(H5T_COMPOUND, 8);
        if (t >= 0) {
            (void)H5Tinsert(t, "a", 0, H5T_STD_I32LE);
            (void)H5Tinsert(t, "b", 4, H5T_IEEE_F32LE);
        }
        return t;
    }
    case 3: { /* array of 2 ints */
        hsize_t two = 2;
        return H5Tarray_create2(H5T_STD_I32LE, 1, &two);
    }
    case 4: /* opaque */
        t = H5Tcreate(H5T_OPAQUE, 1 + in_pick(in, 8));
        if (t >= 0) (void)H5Tset_tag(t, "fuzz");
        return t;
    default: /* variable-length sequence of ints */
        *vlen_seq = 1;
        return H5Tvlen_create(H5T_STD_I32LE);
    }
}

/* A dataspace: scalar, null or simple of rank 1..4; like[] offers dimensions to reuse. */
static inline hid_t dsf_pick_space(dsf_in *in, const hsize_t *like, int nlike, hsize_t *count)
{
    size_t k = in_pick(in, 8);
    *count = 1;
    if (k == 0) return H5Screate(H5S_SCALAR);
    if (k == 1) {
        *count = 0;
        return H5Screate(H5S_NULL);
    }
    int rank = 1 + (int)in_pick(in, 4);
    hsize_t dims[4];
    for (int i = 0; i < rank; i++) {
        size_t how = in_pick(in, 6);
        if (how == 0 && nlike > 0) {
            dims[i] = like[in_pick(in, (size_t)nlike)];
        } else if (how == 1 && nlike > 0) {
            hsize_t d = like[in_pick(in, (size_t)nlike)];
            dims[i] = in_pick(in, 2) ? d + 1 : d ? d - 1 : 0;
        } else if (how == 2) {
            dims[i] = (hsize_t)in_u16(in) << in_pick(in, 24);
        } else {
            dims[i] = in_pick(in, 5);
        }
        *count = dims[i] && *count > UINT64_MAX / dims[i] ? UINT64_MAX : *count * dims[i];
    }
    return H5Screate_simple(rank, dims, NULL);
}

/* Values for count elements of type t from the input, in a malloc'd buffer (NULL
 * if too large); free it with dsf_free_values. */
static inline void *dsf_make_values(dsf_in *in, hid_t t, int vlen_str, int vlen_seq, hsize_t count)
{
    size_t size = vlen_str ? sizeof(char *) : vlen_seq ? sizeof(hvl_t) : H5Tget_size(t);
    if (size == 0 || count > DSF_H5_MAX_DATA / size) return NULL;
    size_t n = (size_t)count;
    void *buf = calloc(n ? n : 1, size);
    if (!buf) dsf_die("calloc");
    if (vlen_str) {
        char **s = buf;
        for (size_t i = 0; i < n; i++) {
            size_t len = in_pick(in, 24);
            if (!(s[i] = calloc(len + 1, 1))) dsf_die("calloc");
            for (size_t j = 0; j < len; j++) {
                char c = (char)in_u8(in);
                s[i][j] = c ? c : ' ';
            }
        }
    } else if (vlen_seq) {
        hvl_t *v = buf;
        for (size_t i = 0; i < n; i++) {
            v[i].len = in_pick(in, 5);
            if (!(v[i].p = calloc(v[i].len + 1, sizeof(int32_t)))) dsf_die("calloc");
            in_bytes(in, v[i].p, v[i].len * sizeof(int32_t));
        }
    } else {
        in_bytes(in, buf, n * size);
    }
    return buf;
}

static inline void dsf_free_values(void *buf, int vlen_str, int vlen_seq, hsize_t count)
{
    if (!buf) return;
    for (size_t i = 0; (vlen_str || vlen_seq) && i < (size_t)count; i++)
        free(vlen_str ? (void *)((char **)buf)[i] : ((hvl_t *)buf)[i].p);
    free(buf);
}

/* The dimensions of the file's datasets, to offer as shapes. */
static inline int dsf_collect_dims(hid_t f, const dsf_objs *o, hsize_t *like, int max)
{
    int n = 0;
    for (int i = 0; i < o->n && n < max; i++) {
        if (o->is_group[i]) continue;
        hid_t d = H5Dopen2(f, o->path[i], H5P_DEFAULT);
        if (d < 0) continue;
        hid_t s = H5Dget_space(d);
        hsize_t dims[8];
        int r = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
        if (r > 0 && r <= 8 && H5Sget_simple_extent_dims(s, dims, NULL) == r)
            for (int k = 0; k < r && n < max; k++) like[n++] = dims[k];
        if (s >= 0) (void)H5Sclose(s);
        (void)H5Dclose(d);
    }
    return n;
}

static inline void dsf_edit_attr(hid_t f, dsf_in *in, const dsf_objs *o, const char *const *names,
                                 size_t nnames, const hsize_t *like, int nlike)
{
    hid_t obj = H5Oopen(f, o->path[in_pick(in, (size_t)o->n)], H5P_DEFAULT);
    if (obj < 0) return;
    char name[DSF_H5_NAME];
    dsf_pick_name(in, o, names, nnames, 0, name, sizeof name);
    if (H5Aexists(obj, name) > 0) (void)H5Adelete(obj, name);
    if (in_pick(in, 5) == 0) { /* only delete it */
        (void)H5Oclose(obj);
        return;
    }
    int vs, vq;
    hsize_t count;
    hid_t t = dsf_pick_type(in, &vs, &vq);
    hid_t s = dsf_pick_space(in, like, nlike, &count);
    hid_t a = t >= 0 && s >= 0 ? H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (a >= 0) {
        void *v = dsf_make_values(in, t, vs, vq, count);
        if (v && count > 0) (void)H5Awrite(a, t, v);
        dsf_free_values(v, vs, vq, count);
        (void)H5Aclose(a);
    }
    if (s >= 0) (void)H5Sclose(s);
    if (t >= 0) (void)H5Tclose(t);
    (void)H5Oclose(obj);
}

static inline void dsf_edit_dataset(hid_t f, dsf_in *in, const dsf_objs *o,
                                    const char *const *names, size_t nnames, const hsize_t *like,
                                    int nlike)
{
    char path[DSF_H5_NAME];
    dsf_pick_name(in, o, names, nnames, 1, path, sizeof path);
    if (!strcmp(path, "/")) return;
    (void)H5Ldelete(f, path, H5P_DEFAULT);
    int vs, vq;
    hsize_t count;
    hid_t t = dsf_pick_type(in, &vs, &vq);
    hid_t s = dsf_pick_space(in, like, nlike, &count);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0) (void)H5Pset_create_intermediate_group(lcpl, 1);
    if (dcpl >= 0 && s >= 0 && H5Sget_simple_extent_type(s) == H5S_SIMPLE) {
        size_t layout = in_pick(in, 4);
        int rank = H5Sget_simple_extent_ndims(s);
        if (layout == 1 && rank > 0) { /* chunked */
            hsize_t chunk[4];
            for (int i = 0; i < rank && i < 4; i++) chunk[i] = 1 + in_pick(in, 4);
            (void)H5Pset_chunk(dcpl, rank, chunk);
        } else if (layout == 2) {
            (void)H5Pset_layout(dcpl, H5D_COMPACT);
        }
    }
    if (dcpl >= 0 && t >= 0 && !vs && !vq && in_pick(in, 4) == 0) { /* a fill value */
        size_t size = H5Tget_size(t);
        uint8_t fill[128];
        if (size > 0 && size <= sizeof fill) {
            in_bytes(in, fill, size);
            (void)H5Pset_fill_value(dcpl, t, fill);
        }
    }
    hid_t d = t >= 0 && s >= 0 && dcpl >= 0 && lcpl >= 0
                  ? H5Dcreate2(f, path, t, s, lcpl, dcpl, H5P_DEFAULT)
                  : -1;
    if (d >= 0) {
        if (in_pick(in, 4) != 0) { /* else leave it unwritten: fill values */
            void *v = dsf_make_values(in, t, vs, vq, count);
            if (v && count > 0) (void)H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            dsf_free_values(v, vs, vq, count);
        }
        (void)H5Dclose(d);
    }
    if (lcpl >= 0) (void)H5Pclose(lcpl);
    if (dcpl >= 0) (void)H5Pclose(dcpl);
    if (s >= 0) (void)H5Sclose(s);
    if (t >= 0) (void)H5Tclose(t);
}

/* Overwrite some values of an existing dataset with input bytes, in its own type. */
static inline void dsf_edit_values(hid_t f, dsf_in *in, const dsf_objs *o)
{
    hid_t d = H5Dopen2(f, o->path[in_pick(in, (size_t)o->n)], H5P_DEFAULT);
    if (d < 0) return;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    size_t size = t >= 0 ? H5Tget_size(t) : 0;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (n > 0 && size > 0 && cls != H5T_VLEN && cls != H5T_REFERENCE && H5Tis_variable_str(t) == 0 &&
        (size_t)n <= DSF_H5_MAX_DATA / size) {
        uint8_t *buf = malloc((size_t)n * size);
        if (!buf) dsf_die("malloc");
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
            size_t k = 1 + in_pick(in, 8);
            for (size_t i = 0; i < k; i++) {
                size_t at = in_pick(in, (size_t)n);
                in_bytes(in, buf + at * size, size);
            }
            (void)H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        }
        free(buf);
    }
    if (s >= 0) (void)H5Sclose(s);
    if (t >= 0) (void)H5Tclose(t);
    (void)H5Dclose(d);
}

static inline void dsf_edit_link(hid_t f, dsf_in *in, const dsf_objs *o, const char *const *names,
                                 size_t nnames)
{
    char path[DSF_H5_NAME], target[DSF_H5_NAME];
    dsf_pick_name(in, o, names, nnames, 1, path, sizeof path);
    if (!strcmp(path, "/")) return;
    size_t how = in_pick(in, 5);
    if (how == 0) { /* delete */
        (void)H5Ldelete(f, path, H5P_DEFAULT);
        return;
    }
    if (how == 1) { /* an empty group in its place */
        (void)H5Ldelete(f, path, H5P_DEFAULT);
        hid_t g = H5Gcreate2(f, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) (void)H5Gclose(g);
        return;
    }
    dsf_pick_name(in, o, names, nnames, 1, target, sizeof target);
    (void)H5Ldelete(f, path, H5P_DEFAULT);
    if (how == 2)
        (void)H5Lcreate_soft(target, f, path, H5P_DEFAULT, H5P_DEFAULT);
    else if (how == 3)
        (void)H5Lcreate_hard(f, target, f, path, H5P_DEFAULT, H5P_DEFAULT);
    else /* a file that does not exist */
        (void)H5Lcreate_external("/nonexistent/deepsigns-fuzz.h5", target, f, path, H5P_DEFAULT,
                                 H5P_DEFAULT);
}

static inline void dsf_h5_edit(hid_t f, dsf_in *in, const char *const *names, size_t nnames)
{
    static dsf_objs o;
    hsize_t like[64];
    dsf_objs_collect(f, &o);
    int nlike = dsf_collect_dims(f, &o, like, 64); /* the shapes of the original file */
    for (int round = 0; in->n > 0 && round < 16; round++) {
        switch (in_pick(in, 4)) {
        case 0: dsf_edit_attr(f, in, &o, names, nnames, like, nlike); break;
        case 1:
            dsf_edit_dataset(f, in, &o, names, nnames, like, nlike);
            dsf_objs_collect(f, &o);
            break;
        case 2: dsf_edit_values(f, in, &o); break;
        default:
            dsf_edit_link(f, in, &o, names, nnames);
            dsf_objs_collect(f, &o);
            break;
        }
    }
}

/* The image of a base file after the edits `in` picks: open base[0..len) in
 * memory (messages name `kind`), edit, take the image back into *img (malloc'd).
 * Returns 0 with the image, 1 when HDF5 cannot write what the edits made;
 * aborts when the base does not open (a broken harness). */
static inline int dsf_edited_image(const void *base, size_t len, const char *kind,
                                   const char *const *names, size_t nnames, dsf_in *in,
                                   void **img, size_t *n)
{
    ds_err err = {0};
    hid_t f = -1;
    if (ds_h5_mem_open(base, len, "base", kind, 1, &f, &err) != DS_OK) {
        fprintf(stderr, "fuzz: cannot open the base %s: %s\n", kind, err.msg);
        abort();
    }
    dsf_h5_edit(f, in, names, nnames);
    *img = NULL;
    *n = 0;
    ds_status st = ds_h5_mem_image(f, "edited", img, n, &err);
    (void)H5Fclose(f);
    return st != DS_OK;
}

/* The start of every edit target's input: its first choice picks one of the
 * nbases base images, the rest edits that one (dsf_edited_image). */
static inline int dsf_pick_edited(const uint8_t *data, size_t size, void *const *images,
                                  const size_t *sizes, int nbases, const char *kind,
                                  const char *const *names, size_t nnames, void **img, size_t *n)
{
    dsf_in in = {data, size};
    int b = (int)in_pick(&in, (size_t)nbases);
    return dsf_edited_image(images[b], sizes[b], kind, names, nnames, &in, img, n);
}

/* What an edit target's LLVMFuzzerInitialize does: HDF5 quiet, its bases built. */
static inline void dsf_build_bases(void (*build)(int), int nbases)
{
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (int i = 0; i < nbases; i++) build(i);
}

#endif
