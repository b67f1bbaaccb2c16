// Greedy-decoding reference on top of libllama (built by build.sh as llama-greedy-ref).
//
// Why not llama-server's /completion with n_probs: it drops the probabilities of every
// token that leaves the text as incomplete UTF-8 (e.g. the first byte-token of a CJK
// character), and its ignore_eos bans end-of-generation tokens instead of decoding
// past them. Here we read the raw logits directly.
//
// Usage: llama-greedy-ref MODEL N_PREDICT N_CTX N_THREADS [KV_TYPE] < prompts
// KV_TYPE: f32 (default) or f16, the type of both the K and the V cache.
// stdin: one prompt per line, as space-separated token ids (no BOS is added).
// stdout: per prompt, N_PREDICT lines "id1 logprob1 id2 logprob2" (top-2 of the
// log-softmax over the full vocabulary; id1 = argmax, which is fed back even when it
// is an end-of-generation token), then an empty line.
#include "llama.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

static void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char ** argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s MODEL N_PREDICT N_CTX N_THREADS [f32|f16] < prompts\n", argv[0]);
        return 2;
    }
    const std::string kv_type = argc == 6 ? argv[5] : "f32";
    if (kv_type != "f32" && kv_type != "f16") {
        fprintf(stderr, "KV_TYPE must be f32 or f16, not %s\n", kv_type.c_str());
        return 2;
    }
    const int n_predict = atoi(argv[2]), n_ctx = atoi(argv[3]), n_threads = atoi(argv[4]);

    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.progress_callback = [](float, void *) { return true; };  // no progress dots
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = n_ctx;
    cp.n_threads = cp.n_threads_batch = n_threads;
    // The most exact numerics llama.cpp offers: an f32 KV cache and no flash attention. Its
    // CPU default (f16 cache, flash attention accumulating V in f16) moves logprobs by up to
    // ~0.1 and flips near-ties, which would make the reference noisier than the engines it checks.
    // An f16 cache without flash attention is sluice's `--kv-cache-dtype f16`.
    cp.type_k = cp.type_v = kv_type == "f16" ? GGML_TYPE_F16 : GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    std::string line;
    while (std::getline(std::cin, line)) {
        std::vector<llama_token> toks;
        std::istringstream in(line);
        for (llama_token t; in >> t;) toks.push_back(t);
        if (toks.empty()) continue;

        llama_memory_clear(llama_get_memory(ctx), true);
        // First the whole prompt as one batch, then one token per step.
        for (int step = 0; step < n_predict; step++) {
            if (llama_decode(ctx, llama_batch_get_one(toks.data(), (int) toks.size()))) {
                fprintf(stderr, "llama_decode failed\n");
                return 1;
            }
            const float * logits = llama_get_logits_ith(ctx, -1);
            int a = 0, b = -1;  // argmax (lowest id wins ties) and runner-up
            for (int i = 1; i < n_vocab; i++) {
                if (logits[i] > logits[a]) { b = a; a = i; }
                else if (b < 0 || logits[i] > logits[b]) b = i;
            }
            double sum = 0;
            for (int i = 0; i < n_vocab; i++) sum += std::exp((double) logits[i] - logits[a]);
            const double lse = logits[a] + std::log(sum);
            printf("%d %.9g %d %.9g\n", a, logits[a] - lse, b, logits[b] - lse);
            toks.assign(1, a);
        }
        printf("\n");
        fflush(stdout);
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
