/* conv_dnnl.c - the convolution plan on oneDNN (make DNNL=1).
 *
 * One plan per conv node and batch size: the forward-training, backward-data
 * and backward-weights primitives, created once with format "any" so that
 * oneDNN picks its blocked layouts (nChw16c and the like on AVX-512) and its
 * JIT kernels for the CPU it runs on. At the interface the tensors stay ours:
 * x[B,C,H,W], y[B,F,Ho,Wo] (NCHW), W[F,C,K,K] (OIHW), b[F]. Reorders convert
 * around each primitive into the caller's scratch; outputs that accumulate (dx,
 * dW) are reordered back with a sum post-op (dst += reorder(src)); db is added
 * here. Every primitive uses a user scratchpad in the same scratch, so the
 * library keeps no hidden buffers of its own between calls.
 *
 * Scratch regions (64-byte aligned, floats counted in ds_conv_plan_scratch):
 *   R_SRC  the blocked src (forward, backward-weights), then the blocked diff_src
 *   R_W    the blocked weights (forward, backward-data)
 *   R_DST  the blocked dst (forward), then the blocked diff_dst (backward-weights)
 *   R_DDST the blocked diff_dst of backward-data when its layout differs
 *   R_DW   the blocked diff_weights;  R_DB  diff_bias [F];  R_PAD the scratchpad
 * Deterministic: oneDNN's CPU primitives partition their work statically by
 * thread count and use no atomics; the thread count is pinned per call to
 * OpenBLAS's.
 */
#include "backend.h"
#ifdef DS_DNNL
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/kernels.h"

enum { R_SRC, R_W, R_DST, R_DDST, R_DW, R_DB, R_PAD, R_N };

/* one tensor of one primitive: the user's plain descriptor and the primitive's */
typedef struct role {
    dnnl_memory_desc_t user, prim;
    int same;                  /* layouts agree: the primitive reads/writes the user's buffer */
    int region;
    dnnl_memory_t umem, pmem;  /* handles set per call */
    dnnl_primitive_t reorder;  /* user -> prim (inputs) or prim -> user (outputs); NULL if same */
} role;

struct ds_conv_plan {
    ds_conv_shape s;
    int bias;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    role f_src, f_w, f_dst;          /* forward */
    role w_src, w_ddst, w_dw;        /* backward weights (w_dw accumulates) */
    role d_ddst, d_w, d_dsrc;        /* backward data (d_dsrc accumulates) */
    dnnl_memory_desc_t bias_md;
    dnnl_memory_t m_bias, m_dbias, m_pad;
    size_t region_bytes[R_N], region_off[R_N], total_bytes;
};

const char *ds_conv_backend(void) { return "onednn"; }

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static void role_release(role *r)
{
    if (r->umem) dnnl_memory_destroy(r->umem);
    if (r->pmem) dnnl_memory_destroy(r->pmem);
    if (r->reorder) dnnl_primitive_destroy(r->reorder);
    memset(r, 0, sizeof *r);
}

void ds_conv_plan_free(ds_conv_plan *p)
{
    if (!p) return;
    role *roles[] = {&p->f_src, &p->f_w, &p->f_dst, &p->w_src, &p->w_ddst, &p->w_dw,
                     &p->d_ddst, &p->d_w, &p->d_dsrc};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) role_release(roles[i]);
    if (p->m_bias) dnnl_memory_destroy(p->m_bias);
    if (p->m_dbias) dnnl_memory_destroy(p->m_dbias);
    if (p->m_pad) dnnl_memory_destroy(p->m_pad);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd_d) dnnl_primitive_destroy(p->bwd_d);
    if (p->bwd_w) dnnl_primitive_destroy(p->bwd_w);
    if (p->strm) dnnl_stream_destroy(p->strm);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

size_t ds_conv_plan_scratch(const ds_conv_plan *p) { return p->total_bytes / sizeof(float) + 16; }

const ds_conv_shape *ds_conv_plan_shape(const ds_conv_plan *p) { return &p->s; }

/* attributes: user scratchpad; with sum = 1 a sum post-op (dst += result) */
static dnnl_primitive_attr_t make_attr(int sum)
{
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user) != dnnl_success)
        goto fail;
    if (sum) {
        dnnl_post_ops_t po = NULL;
        if (dnnl_post_ops_create(&po) != dnnl_success) goto fail;
        dnnl_status_t st = dnnl_post_ops_append_sum(po, 1.0f);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(a, po);
        dnnl_post_ops_destroy(po);
        if (st != dnnl_success) goto fail;
    }
    return a;
fail:
    dnnl_primitive_attr_destroy(a);
    return NULL;
}

static size_t pd_scratchpad(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

/* Set up a role: prim is the primitive's descriptor for it; out = 1 for an
 * output (reorder prim -> user), accumulate = 1 to add into the user's buffer. */
static int role_init(ds_conv_plan *p, role *r, const dnnl_memory_desc_t *user,
                     const dnnl_memory_desc_t *prim, int region, int out, int accumulate)
{
    r->user = *user;
    r->prim = *prim;
    r->region = region;
    r->same = dnnl_memory_desc_equal(user, prim) && !accumulate;
    if (dnnl_memory_create(&r->umem, user, p->eng, DNNL_MEMORY_NONE) != dnnl_success) return -1;
    if (dnnl_memory_create(&r->pmem, prim, p->eng, DNNL_MEMORY_NONE) != dnnl_success) return -1;
    if (r->same) return 0;
    size_t bytes = align64(dnnl_memory_desc_get_size(prim));
    if (bytes > p->region_bytes[region]) p->region_bytes[region] = bytes;
    dnnl_primitive_attr_t attr = make_attr(accumulate);
    if (!attr) return -1;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = out ? dnnl_reorder_primitive_desc_create(&pd, prim, p->eng, user, p->eng, attr)
                           : dnnl_reorder_primitive_desc_create(&pd, user, p->eng, prim, p->eng, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return -1;
    size_t pad = align64(pd_scratchpad(pd));
    if (pad > p->region_bytes[R_PAD]) p->region_bytes[R_PAD] = pad;
    st = dnnl_primitive_create(&r->reorder, pd);
    dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success ? 0 : -1;
}

static int prim_from(ds_conv_plan *p, dnnl_primitive_t *prim, const_dnnl_primitive_desc_t pd)
{
    size_t pad = align64(pd_scratchpad(pd));
    if (pad > p->region_bytes[R_PAD]) p->region_bytes[R_PAD] = pad;
    return dnnl_primitive_create(prim, pd) == dnnl_success ? 0 : -1;
}

static const dnnl_memory_desc_t *qmd(const_dnnl_primitive_desc_t pd, dnnl_query_t q)
{
    return dnnl_primitive_desc_query_md(pd, q, 0);
}

ds_conv_plan *ds_conv_plan_new(const ds_conv_shape *s, int bias)
{
    ds_conv_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->s = *s;
    p->bias = bias;
    /* oneDNN sizes a primitive's thread partition (backward weights' reduction
     * over the batch, the scratchpad) when it is created: pin the pool first, or
     * a plan made with OpenMP's default would run on every core, and differently */
    ds_dnnl_pin_threads();
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_engine_create(&p->eng, dnnl_cpu, 0) != dnnl_success) goto fail;
    if (dnnl_stream_create(&p->strm, p->eng, dnnl_stream_default_flags) != dnnl_success) goto fail;
    dnnl_dims_t xd = {s->B, s->C, s->H, s->W}, wd = {s->F, s->C, s->K, s->K}, bd = {s->F},
                yd = {s->B, s->F, s->Ho, s->Wo}, st = {s->stride, s->stride},
                pl = {s->pad, s->pad};
    /* right padding so that the output size matches ours exactly */
    dnnl_dims_t pr = {(s->Ho - 1) * s->stride + s->K - s->H - s->pad,
                      (s->Wo - 1) * s->stride + s->K - s->W - s->pad};
    dnnl_memory_desc_t ux, uw, uy, ub, ax, aw, ay;
    if (dnnl_memory_desc_init_by_tag(&ux, 4, xd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&uw, 4, wd, dnnl_f32, dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&uy, 4, yd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&ub, 1, bd, dnnl_f32, dnnl_x) ||
        dnnl_memory_desc_init_by_tag(&ax, 4, xd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&aw, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&ay, 4, yd, dnnl_f32, dnnl_format_tag_any))
        goto fail;
    p->bias_md = ub;
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
                                           &ax, &aw, bias ? &ub : NULL, &ay, st, pl, pr))
        goto fail;
    if (!(attr = make_attr(0))) goto fail;
    if (dnnl_primitive_desc_create(&fpd, &cd, attr, p->eng, NULL)) goto fail;
    if (dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &ax, &aw, &ay, st,
                                                 pl, pr) ||
        dnnl_primitive_desc_create(&dpd, &cd, attr, p->eng, fpd))
        goto fail;
    if (dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &ax, &aw,
                                                    bias ? &ub : NULL, &ay, st, pl, pr) ||
        dnnl_primitive_desc_create(&wpd, &cd, attr, p->eng, fpd))
        goto fail;
    if (prim_from(p, &p->fwd, fpd) || prim_from(p, &p->bwd_d, dpd) || prim_from(p, &p->bwd_w, wpd))
        goto fail;
    if (role_init(p, &p->f_src, &ux, qmd(fpd, dnnl_query_src_md), R_SRC, 0, 0) ||
        role_init(p, &p->f_w, &uw, qmd(fpd, dnnl_query_weights_md), R_W, 0, 0) ||
        role_init(p, &p->f_dst, &uy, qmd(fpd, dnnl_query_dst_md), R_DST, 1, 0) ||
        role_init(p, &p->w_src, &ux, qmd(wpd, dnnl_query_src_md), R_SRC, 0, 0) ||
        role_init(p, &p->w_ddst, &uy, qmd(wpd, dnnl_query_diff_dst_md), R_DST, 0, 0) ||
        role_init(p, &p->w_dw, &uw, qmd(wpd, dnnl_query_diff_weights_md), R_DW, 1, 1) ||
        role_init(p, &p->d_w, &uw, qmd(dpd, dnnl_query_weights_md), R_W, 0, 0) ||
        role_init(p, &p->d_dsrc, &ux, qmd(dpd, dnnl_query_diff_src_md), R_SRC, 1, 1))
        goto fail;
    /* backward data reads the diff_dst of backward weights when the layouts agree */
    const dnnl_memory_desc_t *dd = qmd(dpd, dnnl_query_diff_dst_md);
    if (role_init(p, &p->d_ddst, &uy, dd, dnnl_memory_desc_equal(dd, &p->w_ddst.prim) ? R_DST : R_DDST,
                  0, 0))
        goto fail;
    p->region_bytes[R_DB] = align64(sizeof(float) * (size_t)s->F);
    if (dnnl_memory_create(&p->m_bias, &ub, p->eng, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&p->m_dbias, &ub, p->eng, DNNL_MEMORY_NONE))
        goto fail;
    dnnl_memory_desc_t padmd;
    dnnl_dims_t padd = {(dnnl_dim_t)(p->region_bytes[R_PAD] ? p->region_bytes[R_PAD] : 64)};
    if (dnnl_memory_desc_init_by_tag(&padmd, 1, padd, dnnl_u8, dnnl_x) ||
        dnnl_memory_create(&p->m_pad, &padmd, p->eng, DNNL_MEMORY_NONE))
        goto fail;
    size_t off = 0;
    for (int r = 0; r < R_N; r++) {
        p->region_off[r] = off;
        off += p->region_bytes[r];
    }
    p->total_bytes = off;
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(dpd);
    dnnl_primitive_desc_destroy(wpd);
    return p;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    ds_conv_plan_free(p);
    return NULL;
}

/* the 64-byte aligned base of the caller's scratch */
static char *scratch_base(float *scratch)
{
    uintptr_t a = (uintptr_t)scratch;
    return (char *)((a + 63) & ~(uintptr_t)63);
}

/* Bind a role to the user's buffer; returns the memory the primitive uses. */
static dnnl_memory_t role_bind(ds_conv_plan *p, role *r, const float *user, char *base)
{
    dnnl_memory_set_data_handle_v2(r->umem, (void *)user, p->strm);
    if (r->same) return r->umem;
    dnnl_memory_set_data_handle_v2(r->pmem, base + p->region_off[r->region], p->strm);
    return r->pmem;
}

static int run(ds_conv_plan *p, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    return dnnl_primitive_execute(prim, p->strm, nargs, args) == dnnl_success ? 0 : -1;
}

/* user -> primitive layout (no-op when they agree) */
static int role_in(ds_conv_plan *p, role *r)
{
    if (r->same) return 0;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, r->umem}, {DNNL_ARG_TO, r->pmem},
                            {DNNL_ARG_SCRATCHPAD, p->m_pad}};
    return run(p, r->reorder, 3, a);
}

/* primitive layout -> user (accumulating if the role was made so) */
static int role_out(ds_conv_plan *p, role *r)
{
    if (r->same) return 0;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, r->pmem}, {DNNL_ARG_TO, r->umem},
                            {DNNL_ARG_SCRATCHPAD, p->m_pad}};
    return run(p, r->reorder, 3, a);
}

/* oneDNN's pool runs on as many threads as OpenBLAS (the one thread knob; gemm.c) */
static void pin_threads(const ds_conv_plan *p)
{
    (void)p;
    ds_dnnl_pin_threads();
}

/* y[B,F,Ho,Wo] = conv(x[B,C,H,W], W[F,C,K,K]) + b[F] */
void ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                          const float *b, float *scratch)
{
    char *base = scratch_base(scratch);
    pin_threads(p);
    dnnl_memory_set_data_handle_v2(p->m_pad, base + p->region_off[R_PAD], p->strm);
    dnnl_memory_t src = role_bind(p, &p->f_src, x, base), wt = role_bind(p, &p->f_w, W, base),
                  dst = role_bind(p, &p->f_dst, y, base);
    role_in(p, &p->f_src);
    role_in(p, &p->f_w);
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_DST, dst},
                            {DNNL_ARG_SCRATCHPAD, p->m_pad}, {DNNL_ARG_BIAS, p->m_bias}};
    if (p->bias) dnnl_memory_set_data_handle_v2(p->m_bias, (void *)b, p->strm);
    run(p, p->fwd, p->bias ? 5 : 4, a);
    role_out(p, &p->f_dst);
    dnnl_stream_wait(p->strm);
}

/* dW += dy (*) x;  db += sum dy;  dx += dy (*)^T W  (dx, db may be NULL) */
void ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, float *scratch)
{
    char *base = scratch_base(scratch);
    pin_threads(p);
    dnnl_memory_set_data_handle_v2(p->m_pad, base + p->region_off[R_PAD], p->strm);
    float *dbias = (float *)(base + p->region_off[R_DB]);
    /* backward weights: src and diff_dst in, diff_weights (and diff_bias) out */
    dnnl_memory_t src = role_bind(p, &p->w_src, x, base), ddst = role_bind(p, &p->w_ddst, dy, base),
                  dwm = role_bind(p, &p->w_dw, dW, base);
    role_in(p, &p->w_src);
    role_in(p, &p->w_ddst);
    dnnl_memory_set_data_handle_v2(p->m_dbias, dbias, p->strm);
    dnnl_exec_arg_t aw[5] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst},
                             {DNNL_ARG_DIFF_WEIGHTS, dwm}, {DNNL_ARG_SCRATCHPAD, p->m_pad},
                             {DNNL_ARG_DIFF_BIAS, p->m_dbias}};
    run(p, p->bwd_w, p->bias ? 5 : 4, aw);
    role_out(p, &p->w_dw);
    if (db) {
        if (p->bias) {
            dnnl_stream_wait(p->strm);
            for (int f = 0; f < p->s.F; f++) db[f] += dbias[f];
        } else { /* a bias the plan was not made for: sum here, in the reference order */
            const int P = p->s.Ho * p->s.Wo;
            for (int n = 0; n < p->s.B; n++)
                for (int f = 0; f < p->s.F; f++)
                    db[f] += ds_sum(dy + ((size_t)n * p->s.F + f) * P, (size_t)P);
        }
    }
    if (dx) {
        /* backward data: diff_dst and weights in, diff_src out (the src region is free now) */
        dnnl_memory_t dd = role_bind(p, &p->d_ddst, dy, base), wt = role_bind(p, &p->d_w, W, base),
                      dsrc = role_bind(p, &p->d_dsrc, dx, base);
        if (p->d_ddst.region != R_DST) role_in(p, &p->d_ddst);
        role_in(p, &p->d_w);
        dnnl_exec_arg_t ad[4] = {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, wt},
                                 {DNNL_ARG_DIFF_SRC, dsrc}, {DNNL_ARG_SCRATCHPAD, p->m_pad}};
        run(p, p->bwd_d, 4, ad);
        role_out(p, &p->d_dsrc);
    }
    dnnl_stream_wait(p->strm);
}
#else
typedef int ds_conv_dnnl_unused; /* built without oneDNN: conv.c has the OpenBLAS plan */
#endif
