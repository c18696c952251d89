/* model.h - a network as a list of nodes over one parameter buffer.
 *
 * Nodes run in index order (a topological order); node 0 is the input. Each node
 * reads node in0 (and in1 for residual adds) and writes its output, addressable
 * by index or by name ("dense_2", "relu_2", ...). All trainable parameters live
 * in one buffer `params` with named views (ds_tensor); `grads` mirrors it.
 * Non-trainable state (batch-norm running statistics) lives in `stats`.
 * Backward accumulates into grads and activation gradients; zero them with
 * ds_model_zero_grads / ds_model_zero_act_grads.
 */
#ifndef DEEPSIGNS_MODEL_H
#define DEEPSIGNS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/data.h"
#include "deepsigns/rng.h"
#include "deepsigns/status.h"

typedef enum ds_op {
    DS_OP_INPUT = 0,
    DS_OP_DENSE,
    DS_OP_CONV2D,
    DS_OP_MAXPOOL,
    DS_OP_GAP,       /* global average pool */
    DS_OP_RELU,
    DS_OP_DROPOUT,
    DS_OP_BATCHNORM,
    DS_OP_ADD,       /* residual: out = in0 + in1 */
    DS_OP_FLATTEN,   /* a view: shares its input's buffers */
    DS_OP_AVGPOOL,   /* average pool KxK stride S, no padding (imported models) */
} ds_op;

enum { DS_NAME_MAX = 64 };  /* node and tensor names, NUL included */

/* A named view into params (trainable) or stats (running statistics). */
typedef struct ds_tensor {
    char name[DS_NAME_MAX];  /* "dense_1.W", "bn_3.running_var", ... */
    int trainable;           /* 1: in params/grads; 0: in stats */
    int is_weight;           /* 1 for dense/conv weight matrices (what pruning targets) */
    int ndim;
    int dims[4];
    size_t offset;           /* into params or stats */
    size_t size;
    int node;                /* owning node */
} ds_tensor;

typedef struct ds_node {
    ds_op op;
    char name[DS_NAME_MAX];
    int in0, in1;            /* input nodes (-1 if none) */
    int c, h, w;             /* per-sample output shape (features: c = F, h = w = 1) */
    size_t size;             /* c * h * w */
    int k, stride, pad;      /* conv / pool geometry; dense: k = 0 */
    int bias;                /* conv/dense: has a bias */
    float rate;              /* dropout probability */
    float eps, momentum;     /* batch norm */
    int t_w, t_b;            /* tensors: weight/bias (dense, conv) or gamma/beta (bn); -1 if none */
    int t_mean, t_var;       /* bn running statistics tensors; -1 if none */
    /* workspace offsets (set by ds_model_reserve) */
    size_t act_off, aux_off, iaux_off;
} ds_node;

enum { DS_ARCH_MAX_EXTRA = 8 };

/* The limits of the architecture options (mnist-mlp hidden width; cifar10-wrn
 * depth (6n + 4) and widening factor), whose ranges (ranges.h) ds_arch_validate,
 * the spec reader and the CLI share. */
enum {
    DS_ARCH_HIDDEN_MIN = 1, DS_ARCH_HIDDEN_MAX = 65536,
    DS_ARCH_DEPTH_MIN = 10, DS_ARCH_DEPTH_MAX = 202,
    DS_ARCH_WIDEN_MIN = 1, DS_ARCH_WIDEN_MAX = 32,
};

/* Longest layout text of a "graph" architecture (bytes, NUL included). */
enum { DS_ARCH_LAYOUT_MAX = 16384 };

/* Architecture and its options; everything needed to rebuild a model.
 * "graph" is any sequential/residual network (an imported ONNX model, say): its
 * nodes are spelled out in `layout`, one line per node in index order,
 * whitespace-separated fields, names without whitespace:
 *   input C H W                       (the first line; node 0)
 *   dense NAME IN UNITS BIAS          IN: index of the input node; BIAS 0 or 1
 *   conv NAME IN FILTERS K STRIDE PAD BIAS
 *   maxpool NAME IN K STRIDE | avgpool NAME IN K STRIDE
 *   gap NAME IN | relu NAME IN | flatten NAME IN
 *   dropout NAME IN RATE | bn NAME IN EPS
 *   add NAME IN0 IN1
 * classes must equal the size of the last node; in_c/in_h/in_w the input's. */
typedef struct ds_arch {
    char name[32];           /* mnist-mlp | mnist-cnn | cifar10-cnn | cifar10-wrn | graph */
    int in_c, in_h, in_w;    /* input shape */
    int classes;
    int hidden;              /* mnist-mlp hidden width (512) */
    float dropout;           /* dropout rate (mlp 0.2; cnn 0.25/0.5 scaled; wrn 0) */
    int depth, widen;        /* cifar10-wrn: depth (6n+4) and widen factor */
    int extra[DS_ARCH_MAX_EXTRA]; /* units added to the i-th hidden dense/conv layer
                                     (in graph order; dummy-neuron attacks); 0 normally */
    char layout[DS_ARCH_LAYOUT_MAX]; /* "graph": the nodes (above); "" otherwise */
} ds_arch;

/* What a model file records besides the weights. */
typedef struct ds_model_meta {
    ds_preproc preproc;      /* the input preprocessing the model was trained with */
    char source[32];         /* "deepsigns", "keras-import", ... */
    char dataset[256];       /* data directory it was trained on ("" if unknown) */
    char optimizer[16];
    float lr;
    int epochs, batch;       /* training done so far */
    uint64_t seed;
    double test_accuracy;    /* last measured, or -1 */
} ds_model_meta;

typedef struct ds_model {
    ds_arch arch;
    ds_model_meta meta;
    int nnodes;
    ds_node *nodes;
    int ntensors;
    ds_tensor *tensors;
    size_t nparams, nstats;
    float *params;           /* [nparams] */
    float *grads;            /* [nparams] */
    float *stats;            /* [nstats] */
    /* batch workspace */
    int batch_cap;
    float *acts, *dacts;     /* per node [batch_cap * size] at act_off */
    float *aux;              /* dropout masks, bn xhat/invstd */
    int32_t *iaux;           /* max-pool argmax */
    float *col;              /* conv scratch: the plans' (shared) or one image's im2col matrix */
    size_t acts_len, aux_len, iaux_len, col_len;
    /* conv plans (kernels.h), per node, NULL for other nodes or where the backend
     * declined (then the direct im2col path runs): at batch_cap, and at one other
     * batch size (the last, partial batch of an epoch; alt_batch[i], 0 if none) */
    struct ds_conv_plan **plans, **plans_alt;
    int *alt_batch;
    /* inference (ds_model_infer): fold_bn[i] is the batch norm folded into conv
     * node i (its only consumer), or -1; plans_fold[i] the conv with a bias at
     * batch fold_batch[i]; fold the folded weights and bias of one conv */
    int *fold_bn, *fold_batch;
    struct ds_conv_plan **plans_fold;
    float *fold;
    /* bn_relu[j]: the ReLU that is batch norm j's only reader, or -1 (computed in
     * j's pass by ds_model_forward_keep and ds_model_infer); fused_keep: the kept
     * node of the last forward (-2: it fused nothing), which backward follows */
    int *bn_relu;
    int fused_keep;
} ds_model;

/* Fill *arch with the defaults of a named architecture for input (c,h,w) and classes. */
ds_status ds_arch_defaults(const char *name, int in_c, int in_h, int in_w, int classes,
                           ds_arch *arch, ds_err *err);
/* The architectures by index, 0 <= i < ds_arch_count() ("mnist-mlp", ...; NULL outside). */
int ds_arch_count(void);
const char *ds_arch_name_at(int i);
/* Check every option is in range (ranges.h; before anything large is allocated). */
ds_status ds_arch_validate(const ds_arch *arch, ds_err *err);

/* Build a model (parameters zeroed; see ds_model_init_params). NULL on failure. */
ds_model *ds_model_build(const ds_arch *arch, ds_err *err);
void ds_model_free(ds_model *m);
/* A deep copy (parameters, stats; no workspace). NULL on failure. */
ds_model *ds_model_clone(const ds_model *m, ds_err *err);

/* He-normal weights (fan-in), zero biases, bn gamma 1 beta 0, running var 1. */
void ds_model_init_params(ds_model *m, uint64_t seed);
/* Initialise tensor t alone, exactly as ds_model_init_params(m, seed) would. */
void ds_model_init_tensor(ds_model *m, int t, uint64_t seed);

/* Make room for batches of up to `batch` samples. */
ds_status ds_model_reserve(ds_model *m, int batch, ds_err *err);
/* The same for inference only (ds_model_forward with train = 0): no activation
 * gradients (dacts stays NULL until a ds_model_reserve). */
ds_status ds_model_reserve_infer(ds_model *m, int batch, ds_err *err);

/* Forward x[B, in_c, in_h, in_w] (B <= batch_cap). train=1: dropout on, batch
 * norm uses and updates batch statistics; rng drives dropout (may be NULL if
 * train=0). */
void ds_model_forward(ds_model *m, const float *x, int B, int train, ds_rng *rng);
/* ds_model_forward with a batch norm read only by a ReLU computing that ReLU's
 * output in its own pass (and its backward reading that ReLU's gradient): the
 * batch norm's activation and activation gradient are then not computed, unless
 * it is node `keep` (-1: none). The training loop's forward. */
void ds_model_forward_keep(ds_model *m, const float *x, int B, int train, ds_rng *rng, int keep);
/* The inference forward of ds_evaluate and ds_model_run: ds_model_forward with
 * train = 0, except that a batch norm whose input is a conv read by nothing else
 * is folded into that conv (W' = W gamma/sqrt(var+eps), b' = (b - mean)
 * gamma/sqrt(var+eps) + beta; equal to the unfolded forward within float
 * rounding), and batch norms fuse their ReLU as in ds_model_forward_keep. The
 * conv's or batch norm's own output is then not computed: only the activations
 * of node `keep` (-1: none), of the output and of nodes that are neither are
 * valid afterwards. */
void ds_model_infer(ds_model *m, const float *x, int B, int keep);
/* Back-propagate from the activation gradients already in dacts (e.g. the loss
 * gradient in the last node's, plus any injected at hidden nodes). Accumulates
 * into grads. Uses the activations of the last forward (train=1). */
void ds_model_backward(ds_model *m, int B);

void ds_model_zero_grads(ds_model *m);
void ds_model_zero_act_grads(ds_model *m);

/* Output / output-gradient buffer of node i, [B, size]. */
float *ds_model_act(const ds_model *m, int node);
float *ds_model_dact(const ds_model *m, int node);
int ds_model_output_node(const ds_model *m);

/* Node by name, or by index given as a decimal string; -1 if none. */
int ds_model_find_node(const ds_model *m, const char *name_or_index);
/* Tensor by name; -1 if none. */
int ds_model_find_tensor(const ds_model *m, const char *name);
/* Pointer to a tensor's data (in params or stats). */
float *ds_model_tensor_data(const ds_model *m, int t);

/* "dense", "conv2d", ... */
const char *ds_op_name(ds_op op);

#endif
