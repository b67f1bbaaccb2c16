// ggml's own K-quant and Q5_0 products on deterministic data, for sluice's kernel tests
// (tests/data/kernel_refs.json). Built and run by make_kernel_refs.sh against the static ggml
// libraries of build.sh. The data generators mirror sluice_kernels::test_data and the weight
// helpers of crates/sluice-kernels/src/quant/kquant/tests.rs: change both together.
#include "ggml.h"
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

struct ref_case { enum ggml_type type; const char *name; int n, k, rows; uint64_t wseed, xseed; };

int main(void) {
    ggml_cpu_init();
    const struct ref_case cases[] = {
        {GGML_TYPE_Q4_K, "q4_K", 3, 512, 2, 101, 201},
        {GGML_TYPE_Q4_K, "q4_K", 2, 2048, 3, 102, 202},
        {GGML_TYPE_Q6_K, "q6_K", 3, 512, 2, 103, 203},
        {GGML_TYPE_Q6_K, "q6_K", 2, 1024, 3, 104, 204},
        {GGML_TYPE_Q5_0, "q5_0", 3, 640, 2, 105, 205},
        {GGML_TYPE_Q5_0, "q5_0", 2, 96, 3, 106, 206},
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
        printf("    {\"type\": \"%s\", \"n\": %d, \"k\": %d, \"rows\": %d, \"weight_seed\": %llu, \"x_seed\": %llu,\n",
               rc->name, rc->n, rc->k, rc->rows, (unsigned long long)rc->wseed, (unsigned long long)rc->xseed);
        printf("     \"dot_bits\": [");
        for (int t = 0; t < rc->rows; t++)
            for (int j = 0; j < rc->n; j++) {
                float s;
                tw->vec_dot(rc->k, &s, 0, w + j * row_bytes, 0, xq + t * xrow_bytes, 0, 1);
                printf("%s%u", (t || j) ? ", " : "", bits(s));
            }
        printf("],\n     \"last_row_dequantized_bits\": [");
        float *deq = malloc(sizeof(float) * rc->k);
        ggml_get_type_traits(rc->type)->to_float(w + (rc->n - 1) * row_bytes, deq, rc->k);
        for (int v = 0; v < rc->k; v++) printf("%s%u", v ? ", " : "", bits(deq[v]));
        printf("]}%s\n", c + 1 < ncases ? "," : "");
        free(w); free(x); free(xq); free(deq);
    }
    printf("  ]\n}\n");
    return 0;
}
