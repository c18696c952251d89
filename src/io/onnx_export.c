/* onnx_export.c - a model as an ONNX file (opset 13), for PyTorch or onnxruntime.
 *
 * One ONNX node per layer, named as the layer, its output value named as the
 * layer too ("input" is the graph's input [N, C, H, W]); every parameter is an
 * initializer named as its tensor ("dense_1.W"). The layers map as
 *   dense    -> Gemm (transB = 0: our W is [in, out]; a bias when the layer has one)
 *   conv     -> Conv (kernel_shape, strides, pads), maxpool -> MaxPool,
 *   avgpool  -> AveragePool
 *   gap      -> ReduceMean over axes 2, 3 (keepdims 0: [N, C], as a Gemm wants it)
 *   bn       -> BatchNormalization (epsilon, momentum), relu -> Relu,
 *   dropout  -> Dropout (ratio as an initializer "<layer>.ratio"), add -> Add,
 *   flatten  -> Flatten (axis 1)
 * so that ds_model_import_onnx reads back the same layers with the same names and
 * bit-identical parameters. The input preprocessing, which ONNX has no place
 * for, is recorded in the metadata property "deepsigns.preproc" (the importer
 * reads it). The messages' structs point into the model's own buffers: nothing
 * is copied before protobuf-c packs them.
 */
#include "deepsigns/model_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h" /* ds_io_write_atomic */
#include "onnx/onnx.pb-c.h"

enum { EXPORT_OPSET = 13, EXPORT_IR_VERSION = 7, EXPORT_MAX_ATTRS = 5, EXPORT_MAX_INPUTS = 5 };

/* The messages of one layer. */
typedef struct export_node {
    Onnx__NodeProto node;
    Onnx__AttributeProto attr[EXPORT_MAX_ATTRS];
    Onnx__AttributeProto *attrp[EXPORT_MAX_ATTRS];
    int64_t ints[EXPORT_MAX_ATTRS][4];
    char *inputs[EXPORT_MAX_INPUTS];
    char *outputs[1];
    Onnx__TensorProto ratio;       /* dropout: its ratio, a scalar initializer */
    char ratio_name[DS_NAME_MAX + 8];
    float ratio_value;
} export_node;

typedef struct export_tensor {
    Onnx__TensorProto t;
    int64_t dims[4];
} export_tensor;

/* A value [N, d...] of float elements (N symbolic). */
typedef struct export_value {
    Onnx__ValueInfoProto info;
    Onnx__TypeProto type;
    Onnx__TypeProto__Tensor tensor;
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dim[4];
    Onnx__TensorShapeProto__Dimension *dimp[4];
} export_value;

typedef struct export_ctx {
    const ds_model *m;
    export_node *nodes;
    Onnx__NodeProto **nodep;
    export_tensor *tensors;
    Onnx__TensorProto **inits;
    size_t ninits;
    export_value in, out;
    Onnx__ValueInfoProto *inp[1], *outp[1];
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsetp[1];
    Onnx__StringStringEntryProto prop;
    Onnx__StringStringEntryProto *propp[1];
    char preproc[256];
    Onnx__ModelProto model;
} export_ctx;

static void value_init(export_value *v, const char *name, int rank, const int *dims)
{
    *v = (export_value){.info = ONNX__VALUE_INFO_PROTO__INIT, .type = ONNX__TYPE_PROTO__INIT,
                        .tensor = ONNX__TYPE_PROTO__TENSOR__INIT, .shape = ONNX__TENSOR_SHAPE_PROTO__INIT};
    for (int i = 0; i < rank; i++) {
        v->dim[i] = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0) {
            v->dim[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            v->dim[i].dim_param = "N";
        } else {
            v->dim[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            v->dim[i].dim_value = dims[i - 1];
        }
        v->dimp[i] = &v->dim[i];
    }
    v->shape.n_dim = (size_t)rank;
    v->shape.dim = v->dimp;
    v->tensor.has_elem_type = 1;
    v->tensor.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    v->tensor.shape = &v->shape;
    v->type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    v->type.tensor_type = &v->tensor;
    v->info.name = (char *)name;
    v->info.type = &v->type;
}

/* t: a float initializer named name of shape dims[0..ndim) (ndim 0: a scalar)
 * over data[0..count) (not copied). */
static void float_tensor(Onnx__TensorProto *t, const char *name, int ndim, int64_t *dims, float *data,
                         size_t count)
{
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->n_dims = (size_t)ndim;
    t->dims = dims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_float_data = count;
    t->float_data = data;
}

/* Attribute k of e: ints (n > 0: vals[0..n)), or an int (n == 0), or a float (n < 0). */
static void attr_set(export_node *e, int k, const char *name, int n, const int64_t *vals, float f)
{
    Onnx__AttributeProto *a = &e->attr[k];
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    if (n > 0) {
        memcpy(e->ints[k], vals, sizeof(int64_t) * (size_t)n);
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->n_ints = (size_t)n;
        a->ints = e->ints[k];
    } else if (n == 0) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = vals[0];
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a->has_f = 1;
        a->f = f;
    }
    e->attrp[k] = a;
    e->node.n_attribute = (size_t)k + 1;
}

/* The messages of layer i (not the input). */
static void export_layer(export_ctx *c, int i)
{
    const ds_model *m = c->m;
    const ds_node *nd = &m->nodes[i];
    export_node *e = &c->nodes[i];
    e->node = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    e->node.name = (char *)nd->name;
    e->outputs[0] = (char *)nd->name;
    e->node.n_output = 1;
    e->node.output = e->outputs;
    e->node.attribute = e->attrp;
    e->node.input = e->inputs;
    size_t ni = 0;
    e->inputs[ni++] = (char *)m->nodes[nd->in0].name;
    if (nd->in1 >= 0) e->inputs[ni++] = (char *)m->nodes[nd->in1].name;
    const int tids[4] = {nd->t_w, nd->t_b, nd->t_mean, nd->t_var};
    for (int k = 0; k < 4; k++)
        if (tids[k] >= 0) e->inputs[ni++] = m->tensors[tids[k]].name;
    const int64_t k2[2] = {nd->k, nd->k}, s2[2] = {nd->stride, nd->stride},
                  p4[4] = {nd->pad, nd->pad, nd->pad, nd->pad}, axes[2] = {2, 3}, zero = 0, one = 1;
    switch (nd->op) {
    case DS_OP_DENSE:
        e->node.op_type = "Gemm";
        break;
    case DS_OP_CONV2D:
        e->node.op_type = "Conv";
        attr_set(e, 0, "kernel_shape", 2, k2, 0);
        attr_set(e, 1, "strides", 2, s2, 0);
        attr_set(e, 2, "pads", 4, p4, 0);
        break;
    case DS_OP_MAXPOOL:
    case DS_OP_AVGPOOL:
        e->node.op_type = nd->op == DS_OP_MAXPOOL ? "MaxPool" : "AveragePool";
        attr_set(e, 0, "kernel_shape", 2, k2, 0);
        attr_set(e, 1, "strides", 2, s2, 0);
        break;
    case DS_OP_GAP:
        e->node.op_type = "ReduceMean";
        attr_set(e, 0, "axes", 2, axes, 0);
        attr_set(e, 1, "keepdims", 0, &zero, 0);
        break;
    case DS_OP_RELU:
        e->node.op_type = "Relu";
        break;
    case DS_OP_DROPOUT:
        e->node.op_type = "Dropout";
        snprintf(e->ratio_name, sizeof e->ratio_name, "%s.ratio", nd->name);
        e->ratio_value = nd->rate;
        float_tensor(&e->ratio, e->ratio_name, 0, NULL, &e->ratio_value, 1);
        c->inits[c->ninits++] = &e->ratio;
        e->inputs[ni++] = e->ratio_name;
        break;
    case DS_OP_BATCHNORM:
        e->node.op_type = "BatchNormalization";
        attr_set(e, 0, "epsilon", -1, NULL, nd->eps);
        attr_set(e, 1, "momentum", -1, NULL, 1.0f - nd->momentum); /* ONNX: the old mean's weight */
        break;
    case DS_OP_ADD:
        e->node.op_type = "Add";
        break;
    case DS_OP_FLATTEN:
        e->node.op_type = "Flatten";
        attr_set(e, 0, "axis", 0, &one, 0);
        break;
    case DS_OP_INPUT:
        break;
    }
    e->node.n_input = ni;
}

static void export_tensors(export_ctx *c)
{
    const ds_model *m = c->m;
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        export_tensor *x = &c->tensors[t];
        for (int d = 0; d < ts->ndim; d++) x->dims[d] = ts->dims[d];
        float_tensor(&x->t, ts->name, ts->ndim, x->dims, ds_model_tensor_data(m, t), ts->size);
        c->inits[c->ninits++] = &x->t;
    }
}

static void export_model(export_ctx *c)
{
    const ds_model *m = c->m;
    const ds_preproc *pp = &m->meta.preproc;
    for (int i = 1; i < m->nnodes; i++) {
        export_layer(c, i);
        c->nodep[i - 1] = &c->nodes[i].node;
    }
    export_tensors(c);
    const ds_node *in = &m->nodes[0];
    const int out = ds_model_output_node(m);
    value_init(&c->in, in->name, 4, (int[]){in->c, in->h, in->w});
    value_init(&c->out, m->nodes[out].name, 2, (int[]){(int)m->nodes[out].size});
    c->inp[0] = &c->in.info;
    c->outp[0] = &c->out.info;
    c->graph = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    c->graph.name = "deepsigns";
    c->graph.n_node = (size_t)m->nnodes - 1;
    c->graph.node = c->nodep;
    c->graph.n_initializer = c->ninits;
    c->graph.initializer = c->inits;
    c->graph.n_input = 1;
    c->graph.input = c->inp;
    c->graph.n_output = 1;
    c->graph.output = c->outp;
    c->opset = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    c->opset.domain = "";
    c->opset.has_version = 1;
    c->opset.version = EXPORT_OPSET;
    c->opsetp[0] = &c->opset;
    snprintf(c->preproc, sizeof c->preproc, "scale %.9g channels %d mean %.9g %.9g %.9g std %.9g %.9g %.9g",
             (double)pp->scale, pp->channels, (double)pp->mean[0], (double)pp->mean[1], (double)pp->mean[2],
             (double)pp->std[0], (double)pp->std[1], (double)pp->std[2]);
    c->prop = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    c->prop.key = DS_ONNX_PREPROC_KEY;
    c->prop.value = c->preproc;
    c->propp[0] = &c->prop;
    c->model = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    c->model.has_ir_version = 1;
    c->model.ir_version = EXPORT_IR_VERSION;
    c->model.producer_name = "deepsigns";
    c->model.n_opset_import = 1;
    c->model.opset_import = c->opsetp;
    c->model.graph = &c->graph;
    c->model.n_metadata_props = 1;
    c->model.metadata_props = c->propp;
}

ds_status ds_model_export_onnx_image(const ds_model *m, void **image, size_t *n, ds_err *err)
{
    if (!image || !n) return ds_err_set(err, DS_EINVAL, "ONNX export: nowhere to put the image");
    *image = NULL;
    *n = 0;
    if (!m || m->nnodes < 2) return ds_err_set(err, DS_EINVAL, "ONNX export: no model");
    export_ctx *c = calloc(1, sizeof *c);
    if (c) {
        c->m = m;
        c->nodes = calloc((size_t)m->nnodes, sizeof *c->nodes);
        c->nodep = calloc((size_t)m->nnodes, sizeof *c->nodep);
        c->tensors = calloc((size_t)m->ntensors + 1, sizeof *c->tensors);
        c->inits = calloc((size_t)m->ntensors + (size_t)m->nnodes, sizeof *c->inits);
    }
    ds_status st = DS_OK;
    if (!c || !c->nodes || !c->nodep || !c->tensors || !c->inits) {
        st = ds_err_set(err, DS_ENOMEM, "ONNX export: out of memory");
    } else {
        export_model(c);
        size_t len = onnx__model_proto__get_packed_size(&c->model);
        if (len >= ((size_t)1 << 31))
            st = ds_err_set(err, DS_ERANGE, "ONNX export: %zu bytes; an ONNX file holds less than 2 GiB", len);
        else if (!(*image = malloc(len ? len : 1)))
            st = ds_err_set(err, DS_ENOMEM, "ONNX export: out of memory for %zu bytes", len);
        else
            *n = onnx__model_proto__pack(&c->model, *image);
    }
    if (c) {
        free(c->nodes);
        free(c->nodep);
        free(c->tensors);
        free(c->inits);
    }
    free(c);
    return st;
}

ds_status ds_model_export_onnx(const ds_model *m, const char *path, ds_err *err)
{
    void *img;
    size_t n;
    ds_status st = ds_model_export_onnx_image(m, &img, &n, err);
    if (st) return ds_err_prefix(err, "%s: ", path);
    st = ds_io_write_atomic(path, img, n, DS_IO_MODE_KEEP, err);
    free(img);
    return st;
}
