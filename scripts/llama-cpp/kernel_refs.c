// ggml's own K-quant and Q5_0 products on deterministic data, for sluice's kernel tests
// (tests/data/kernel_refs.json). Built and run by make_kernel_refs.sh against the static ggml
// libraries of build.sh. The data generators mirror sluice_kernels::test_data and the weight
// helpers of crates/sluice-kernels/src/quant/kquant/tests.rs: change both together.
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t lcg(uint64_t *x) {
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x;
}

static void bytes(uint64_t seed, uint8_t *out, size_t n) {
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(lcg(&x) >> 56);
}

// test_data::uniform times 3.
static void activations(uint64_t seed, float *out, size_t n) {
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        float v = (float)(lcg(&x) >> 40) / (float)(1ULL << 23) - 1.0f;
        out[i] = v * 3.0f;
    }
}

// ggml's GELU table (f16 in, f16 out), filled by ggml_cpu_init; exported by ggml-cpu.
extern uint16_t ggml_table_gelu_f16[1 << 16];

// FNV-1a, 64 bits, over the table's entries as little-endian bytes.
static uint64_t table_hash(const uint16_t *t, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 2; b++) { h ^= (uint8_t)(t[i] >> (8 * b)); h *= 0x100000001b3ULL; }
    return h;
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void put_f16(uint8_t *at, float v) {
    ggml_fp16_t h = ggml_fp32_to_fp16(v);
    memcpy(at, &h, 2);
}

// Random blocks with small finite scales, as the Rust tests' `weights`.
static void weights(enum ggml_type type, uint64_t seed, uint8_t *w, size_t blocks) {
    size_t bb = ggml_type_size(type);
    bytes(seed, w, blocks * bb);
    for (size_t i = 0; i < blocks; i++) {
        uint8_t *b = w + i * bb;
        float d = 0.001f + (float)(i % 7) * 0.0003f;
        switch (type) {
        case GGML_TYPE_Q4_K:
            put_f16(b, d);
            put_f16(b + 2, 0.002f + (float)(i % 5) * 0.0005f);
            break;
        case GGML_TYPE_Q6_K: put_f16(b + 208, d); break;
        case GGML_TYPE_Q5_0: put_f16(b, d); break;
        default: abort();
        }
    }
}

// The CPU backend's repacking buffer type ("CPU_REPACK"), where llama.cpp puts the weights
// it multiplies with its interleaved kernels (Q4_K on AVX2).
static ggml_backend_buffer_type_t repack_buffer_type(ggml_backend_t cpu) {
    ggml_backend_dev_t dev = ggml_backend_get_device(cpu);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t get = (ggml_backend_dev_get_extra_bufts_t)
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t *b = get ? get(dev) : NULL; b && *b; b++)
        if (strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) return *b;
    fprintf(stderr, "no CPU_REPACK buffer type\n");
    exit(1);
}

// `out[t][j] = W[j] · x[t]` as llama.cpp's graph computes it (ggml_mul_mat on the CPU
// backend), with the weights in the repacking buffer or in a plain one.
static void graph_mul_mat(ggml_backend_t cpu, int repacked, enum ggml_type type,
                          const uint8_t *w_bytes, const float *x, int n, int k, int rows,
                          float *out) {
    struct ggml_init_params wp = {ggml_tensor_overhead() * 2, NULL, true};
    struct ggml_context *wctx = ggml_init(wp);
    struct ggml_tensor *w = ggml_new_tensor_2d(wctx, type, k, n);
    ggml_backend_buffer_type_t buft =
        repacked ? repack_buffer_type(cpu) : ggml_backend_get_default_buffer_type(cpu);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, buft);
    ggml_backend_tensor_set(w, w_bytes, 0, ggml_nbytes(w));
    struct ggml_init_params xp = {64 * 1024 * 1024, NULL, false};
    struct ggml_context *ctx = ggml_init(xp);
    struct ggml_tensor *xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, rows);
    memcpy(xt->data, x, sizeof(float) * k * rows);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, xt);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, y);
    ggml_backend_graph_compute(cpu, gf);
    memcpy(out, y->data, sizeof(float) * n * rows);
    ggml_free(ctx);
    ggml_backend_buffer_free(buf);
    ggml_free(wctx);
}

// How the products are computed: ggml_vec_dot_* row by row, or llama.cpp's graph with the
// weights repacked (Q4_K, 8n rows) or not (K-quants with 8 or more activation rows take
// ggml's tiled matmul).
enum path { VEC_DOT, REPACKED, GRAPH };
static const char *path_names[] = {"vec_dot", "repacked", "graph"};
struct ref_case { enum ggml_type type; const char *name; int n, k, rows; uint64_t wseed, xseed; enum path path; };

int main(void) {
    ggml_cpu_init();
    ggml_backend_t cpu = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(cpu, 2);
    const struct ref_case cases[] = {
        {GGML_TYPE_Q4_K, "q4_K", 3, 512, 2, 101, 201, VEC_DOT},
        {GGML_TYPE_Q4_K, "q4_K", 2, 2048, 3, 102, 202, VEC_DOT},
        {GGML_TYPE_Q6_K, "q6_K", 3, 512, 2, 103, 203, VEC_DOT},
        {GGML_TYPE_Q6_K, "q6_K", 2, 1024, 3, 104, 204, VEC_DOT},
        {GGML_TYPE_Q5_0, "q5_0", 3, 640, 2, 105, 205, VEC_DOT},
        {GGML_TYPE_Q5_0, "q5_0", 2, 96, 3, 106, 206, VEC_DOT},
        // 1 row: ggml_gemv_q4_K_8x8_q8_K; 6 rows: ggml_gemm_q4_K_8x8_q8_K for 4, gemv for 2.
        {GGML_TYPE_Q4_K, "q4_K", 8, 512, 1, 107, 207, REPACKED},
        {GGML_TYPE_Q4_K, "q4_K", 16, 1024, 6, 108, 208, REPACKED},
        // 7 rows: vec_dot; 8 and more: the tiled matmul.
        {GGML_TYPE_Q6_K, "q6_K", 5, 512, 7, 109, 209, GRAPH},
        {GGML_TYPE_Q6_K, "q6_K", 5, 1024, 9, 110, 210, GRAPH},
        {GGML_TYPE_Q4_K, "q4_K", 6, 512, 8, 111, 211, GRAPH},
    };
    printf("{\n  \"generator\": \"scripts/llama-cpp/kernel_refs.c (ggml vec_dot, from_float, to_float)\",\n");
    printf("  \"gelu_table_fnv1a64\": \"%016llx\",\n", (unsigned long long)table_hash(ggml_table_gelu_f16, 1 << 16));
    printf("  \"cases\": [\n");
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t c = 0; c < ncases; c++) {
        const struct ref_case *rc = &cases[c];
        const struct ggml_type_traits_cpu *tw = ggml_get_type_traits_cpu(rc->type);
        const struct ggml_type_traits_cpu *tx = ggml_get_type_traits_cpu(tw->vec_dot_type);
        size_t row_bytes = ggml_row_size(rc->type, rc->k);
        size_t xrow_bytes = ggml_row_size(tw->vec_dot_type, rc->k);
        uint8_t *w = malloc(row_bytes * rc->n);
        weights(rc->type, rc->wseed, w, (size_t)rc->n * rc->k / ggml_blck_size(rc->type));
        float *x = malloc(sizeof(float) * rc->k * rc->rows);
        activations(rc->xseed, x, (size_t)rc->k * rc->rows);
        uint8_t *xq = malloc(xrow_bytes * rc->rows);
        for (int t = 0; t < rc->rows; t++) tx->from_float(x + (size_t)t * rc->k, xq + t * xrow_bytes, rc->k);
            printf("    {\"type\": \"%s\", \"n\": %d, \"k\": %d, \"rows\": %d, \"weight_seed\": %llu, \"x_seed\": %llu, \"path\": \"%s\",\n",
               rc->name, rc->n, rc->k, rc->rows, (unsigned long long)rc->wseed, (unsigned long long)rc->xseed,
               path_names[rc->path]);
        printf("     \"dot_bits\": [");
        float *products = malloc(sizeof(float) * rc->n * rc->rows);
        if (rc->path != VEC_DOT) {
            graph_mul_mat(cpu, rc->path == REPACKED, rc->type, w, x, rc->n, rc->k, rc->rows, products);
        } else {
            for (int t = 0; t < rc->rows; t++)
                for (int j = 0; j < rc->n; j++)
                    tw->vec_dot(rc->k, &products[t * rc->n + j], 0, w + j * row_bytes, 0, xq + t * xrow_bytes, 0, 1);
        }
        for (int i = 0; i < rc->n * rc->rows; i++) printf("%s%u", i ? ", " : "", bits(products[i]));
        free(products);
        printf("],\n     \"last_row_dequantized_bits\": [");
        float *deq = malloc(sizeof(float) * rc->k);
        ggml_get_type_traits(rc->type)->to_float(w + (rc->n - 1) * row_bytes, deq, rc->k);
        for (int v = 0; v < rc->k; v++) printf("%s%u", v ? ", " : "", bits(deq[v]));
        printf("]}%s\n", c + 1 < ncases ? "," : "");
        free(w); free(x); free(xq); free(deq);
    }
    printf("  ]\n}\n");
    ggml_backend_free(cpu);
    return 0;
}
