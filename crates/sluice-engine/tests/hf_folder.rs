//! The default model as a Hugging Face folder, made from its GGUF file by the HF and ggml
//! libraries themselves (scripts/hf/make_folder.py, in a virtual environment under target/),
//! against references committed in tests/data by scripts/hf/make_references.py:
//! llama.cpp on the same weights dequantized to F32 and BF16, and `transformers`' tokenizer.

mod common;
use common::references::*;
use common::*;
use sluice_engine::{
    CacheSize, EngineConfig, EngineStats, LoadOptions, Quantization, Speculation, WeightDtype,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// A Python with scripts/hf/requirements.txt, in a virtual environment made once.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let requirements =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/hf/requirements.txt");
            sluice_testing::python_venv(
                &Path::new(env!("CARGO_TARGET_TMPDIR")).join("hf-venv"),
                &requirements,
            )
        })
        .clone()
}

/// The default model's folder in `dtype` (`float32`, `bfloat16`) and `shards` files, made on
/// first use (and kept under target/ for later runs).
fn folder(dtype: &str, shards: usize) -> PathBuf {
    static MAKING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("smollm2-{dtype}-{shards}"));
    let done = dir.join(".complete");
    if !done.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/hf/make_folder.py");
        let made = Command::new(python())
            .arg(script)
            .arg("--gguf")
            .arg(real_model_path())
            .arg("--out")
            .arg(&dir)
            .args(["--dtype", dtype, "--shards", &shards.to_string()])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        std::fs::write(&done, "").unwrap();
    }
    dir
}

fn config(load: LoadOptions) -> EngineConfig {
    EngineConfig {
        cache: CacheSize::Tokens(16 * 512),
        max_running: 64,
        load,
        ..EngineConfig::default()
    }
}

/// Every case run together in one batch, greedy, `n` tokens each.
fn greedy_outputs(model: &Path, load: LoadOptions, refs: &GreedyRefs) -> Vec<Output> {
    greedy_outputs_with(model, config(load), refs).0
}

/// [`greedy_outputs`] with an engine configured as `cfg`, and the engine's stats after.
fn greedy_outputs_with(
    model: &Path,
    cfg: EngineConfig,
    refs: &GreedyRefs,
) -> (Vec<Output>, EngineStats) {
    let handle = engine(model, cfg);
    let reqs = refs
        .cases
        .iter()
        .map(|c| greedy(c.prompt_ids.clone(), refs.n_predict))
        .collect();
    let outs = run_all(&handle, reqs);
    (outs, stats(&handle))
}

/// Where two logits tie within this, the argmax may fall either way (issue 3's rule).
const TIE: f32 = 1e-3;

/// Our greedy tokens equal the reference's, and our chosen tokens' logprobs are within
/// `tolerance` of its. One divergence per prompt is accepted at a step whose reference top-2
/// logprobs are within [`TIE`] (a tie within float noise); the rest of that prompt is then not
/// compared, and the divergence is printed.
fn assert_matches(outs: &[Output], refs: &GreedyRefs, tolerance: f32, what: &str) {
    assert!(refs.cases.len() >= 10);
    let (mut worst, mut compared, mut equal) = (0f32, 0, 0);
    for (case, out) in refs.cases.iter().zip(outs) {
        for (step, (&ours, &theirs)) in out.tokens.iter().zip(&case.tokens).enumerate() {
            let [best, second] = case.top2_logprobs[step];
            if ours != theirs {
                assert!(
                    best - second < TIE,
                    "{what}, {:?}: token {step} is {ours}, llama.cpp {theirs} (top-2 {best} vs {second})",
                    case.prompt
                );
                println!(
                    "{what}, {:?}: a tie at token {step} (llama.cpp's top-2 logprobs {best} and {second}, within {TIE}) went the other way; not compared further",
                    case.prompt
                );
                break;
            }
            let logprob = out.logprobs[step];
            assert!(
                (logprob - best).abs() < tolerance,
                "{what}, {:?}: token {step} logprob {logprob}, llama.cpp {best}",
                case.prompt
            );
            worst = worst.max((logprob - best).abs());
            compared += 1;
            equal += usize::from(logprob.to_bits() == best.to_bits());
        }
    }
    println!(
        "{what}: {compared} tokens equal to llama.cpp's; logprobs within {worst:e} ({equal} to the bit)"
    );
}

/// f32 weights as stored (memory-mapped) give llama.cpp's greedy tokens on the same weights,
/// logprobs within 1e-5 (issue 17 asks 1e-3: the dense kernels sum each row in llama.cpp's
/// order, so only the log-softmax's rounding is left); a folder of two shards gives exactly
/// the same output as one file.
#[test]
fn an_f32_folder_matches_llama_cpp_on_the_same_weights() {
    let refs: GreedyRefs = reference("hf_greedy_refs_f32.json");
    let one = greedy_outputs(&folder("float32", 1), LoadOptions::default(), &refs);
    assert_matches(&one, &refs, 1e-5, "f32");
    let two = greedy_outputs(&folder("float32", 2), LoadOptions::default(), &refs);
    assert_eq!(one, two, "two shards");
}

/// The real draft pair: the default model's Q4_1 file drafting for the same model's f32
/// weights (`--speculate N --draft-model smollm2-135m`). Greedy output stays the f32 model's
/// own, token for token, logprobs within 1e-5; the draft is right often, not always.
#[test]
fn a_quantized_draft_keeps_the_f32_folders_output() {
    let refs: GreedyRefs = reference("hf_greedy_refs_f32.json");
    let model = folder("float32", 1);
    let plain = greedy_outputs(&model, LoadOptions::default(), &refs);
    for max_tokens in [2, 8] {
        let cfg = EngineConfig {
            speculation: Speculation {
                max_tokens,
                back_off: false,
            },
            draft_model: Some(real_model_path().to_str().unwrap().to_string()),
            ..config(LoadOptions::default())
        };
        let (outs, stats) = greedy_outputs_with(&model, cfg, &refs);
        for (case, (want, got)) in refs.cases.iter().zip(plain.iter().zip(&outs)) {
            assert_eq!(
                want.tokens, got.tokens,
                "--speculate {max_tokens}: {:?}",
                case.prompt
            );
            for (a, b) in want.logprobs.iter().zip(&got.logprobs) {
                assert!(
                    (a - b).abs() <= 1e-5,
                    "--speculate {max_tokens}: {a} vs {b}"
                );
            }
        }
        let spec = stats.speculation.expect("speculation stats");
        assert_eq!(spec.method, "draft");
        assert!(
            spec.accepted_tokens > 0 && spec.accepted_tokens < spec.proposed_tokens,
            "--speculate {max_tokens}: {spec:?}"
        );
        println!("--speculate {max_tokens} with the Q4_1 draft: {spec:?}");
        assert_eq!(stats.kv_blocks_free, stats.kv_blocks_total);
    }
}

/// bf16 weights give llama.cpp's greedy tokens on its BF16 file, logprobs within 1e-5
/// (issue 17 asks 5e-2), the activations rounded to bf16 as llama.cpp rounds them.
#[test]
fn a_bf16_folder_matches_llama_cpp_on_the_same_weights() {
    let refs: GreedyRefs = reference("hf_greedy_refs_bf16.json");
    let outs = greedy_outputs(&folder("bfloat16", 1), LoadOptions::default(), &refs);
    assert_matches(&outs, &refs, 1e-5, "bf16");
    // --dtype bfloat16 on the f32 folder holds the same weights the bf16 folder stores.
    let converted = LoadOptions {
        dtype: Some(WeightDtype::Bf16),
        quantize: None,
    };
    assert_eq!(
        greedy_outputs(&folder("float32", 1), converted, &refs),
        outs
    );
}

/// `--quantize q4_1` on the f32 folder quantizes the dequantized weights back into the GGUF
/// file's own blocks: the GGUF path's greedy references hold token for token, logprobs to
/// float precision (the same kernels on the same blocks).
#[test]
fn quantizing_the_f32_folder_to_q4_1_gives_the_gguf_file_back() {
    let refs: GreedyRefs = reference("greedy_refs.json");
    let q4_1 = LoadOptions {
        dtype: None,
        quantize: Some("q4_1".parse::<Quantization>().unwrap()),
    };
    let outs = greedy_outputs(&folder("float32", 1), q4_1, &refs);
    for (case, out) in refs.cases.iter().zip(&outs) {
        assert_eq!(out.tokens, case.tokens, "{:?}", case.prompt);
        for (step, (ours, [theirs, _])) in out.logprobs.iter().zip(&case.top2_logprobs).enumerate()
        {
            assert!(
                (ours - theirs).abs() < 1e-5,
                "{:?} step {step}",
                case.prompt
            );
        }
    }
}

/// Int8 weights (EETQ's symmetric per-channel format) keep the f32 model's next-token choice:
/// teacher-forced on the f32 references' continuations, the top-1 tokens agree at 97% of the
/// positions or more.
#[test]
fn eetq_keeps_the_f32_models_choices() {
    let refs: GreedyRefs = reference("hf_greedy_refs_f32.json");
    let sequences: Vec<Vec<u32>> = refs
        .cases
        .iter()
        .map(|c| [c.prompt_ids.clone(), c.tokens.clone()].concat())
        .collect();
    let f32_folder = folder("float32", 1);
    let exact = argmaxes(&f32_folder, LoadOptions::default(), &sequences);
    let int8 = LoadOptions {
        dtype: None,
        quantize: Some("eetq".parse::<Quantization>().unwrap()),
    };
    let quantized = argmaxes(&f32_folder, int8, &sequences);
    let (mut same, mut total) = (0, 0);
    for ((e, q), case) in exact.iter().zip(&quantized).zip(&refs.cases) {
        // The positions that predict the continuation's tokens.
        let from = case.prompt_ids.len() - 1;
        for (a, b) in e[from..].iter().zip(&q[from..]) {
            same += usize::from(a == b);
            total += 1;
        }
    }
    let agreement = same as f64 / total as f64;
    println!("eetq: teacher-forced top-1 agreement with f32: {same}/{total} = {agreement:.4}");
    assert!(agreement >= 0.97, "{agreement}");
}

/// The argmax after every position of each sequence, each run through the model alone as one
/// prompt with every row's logits.
fn argmaxes(model: &Path, load: LoadOptions, sequences: &[Vec<u32>]) -> Vec<Vec<u32>> {
    use sluice_core::BlockId;
    use sluice_models::{BatchSeq, ForwardBatch, KvDtype, KvStore};
    let loaded = sluice_models::load::load(model, load).unwrap();
    let model = loaded.model.as_ref();
    let vocab = model.config().vocab_size;
    sequences
        .iter()
        .map(|ids| {
            let n = ids.len();
            let blocks = n.div_ceil(16);
            let mut kv = KvStore::new(model.kv_layout(blocks, 16, KvDtype::F32));
            let batch = ForwardBatch {
                tokens: ids.clone(),
                positions: (0..n).collect(),
                slots: (0..n).collect(),
                seqs: vec![BatchSeq {
                    first_row: 0,
                    rows: n,
                    context_len: n,
                    prompt_len: n,
                    block_table: (0..blocks as u32).map(BlockId).collect(),
                }],
                logit_rows: (0..n).collect(),
            };
            let logits = model.forward(&batch, &mut kv).unwrap();
            logits
                .chunks_exact(vocab)
                .map(|row| {
                    let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
                    best.map_or(0, |(i, _)| i as u32)
                })
                .collect()
        })
        .collect()
}

/// The folder's `tokenizer.json` gives the ids `transformers` gives on the committed strings,
/// and the ids of the GGUF file's tokenizer.
#[test]
fn the_folders_tokenizer_matches_transformers_and_the_gguf_file() {
    let refs: TokenizerRefs = reference("hf_tokenizer_refs.json");
    assert!(refs.cases.len() >= 30);
    let hf = tokenizer(&folder("float32", 1));
    let gguf = tokenizer(&real_model_path());
    for case in &refs.cases {
        let ids = hf.encode(&case.text, true).unwrap();
        assert_eq!(ids, case.ids, "{:?}", case.text);
        assert_eq!(
            ids,
            gguf.encode(&case.text, true).unwrap(),
            "{:?}",
            case.text
        );
        assert_eq!(hf.decode(&ids, false), case.text, "{:?}", case.text);
    }
}
