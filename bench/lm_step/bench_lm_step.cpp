// Training-step throughput of the Qwen2 model: forward, backward and an AdamW update on
// random tokens. Prints JSON {name: tokens per second}; bench/torch_lm_step.py is the peer.
// The loss goes through the model's fused head and cross-entropy (stage_token_nll, what the LM
// stage runs); "<name>_unfused" is the same step through the [B*T, V] logits and cross_entropy.
//   xomni_bench_lm_step [steps] [fp32|bf16]   (the GEMM precision, matmul_precision.h)
#include <chrono>
#include <cstdio>
#include <string>

#include "xomni/core/nn/optim.h"
#include "xomni/core/ops/matmul_precision.h"
#include "xomni/qwen2/model.h"

using namespace xomni;

namespace {
struct StepShape {
  const char* name;
  qwen2::Config cfg;
  int64_t B, T;
};

double tokens_per_second(const StepShape& s, int steps, bool fused) {
  qwen2::CausalLM lm(s.cfg, 1);
  std::vector<NamedParam> params;
  for (auto& [n, t] : lm.named_parameters()) params.push_back({n, t});
  AdamWOptions o;
  o.lr = 1e-4;
  AdamW opt(params, o);
  Generator gen(2);
  std::vector<int64_t> ids(size_t(s.B * (s.T + 1)));
  const std::vector<double> u = rand({int64_t(ids.size())}, gen, DType::f64).to_vector<double>();
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(u[i] * double(s.cfg.vocab_size));
  const Tensor all = Tensor::from_vector(ids, {s.B, s.T + 1});
  const Tensor input = slice(all, 1, 0, s.T).contiguous(),
               target = slice(all, 1, 1, s.T + 1).contiguous();
  auto step = [&] {
    opt.zero_grad();
    Tensor loss;
    if (fused) {
      loss = mean(lm.stage_token_nll(input, target, {}));
    } else {
      Tensor logits = lm(input);
      loss = cross_entropy(reshape(logits, {s.B * s.T, s.cfg.vocab_size}),
                           reshape(target, {s.B * s.T}));
    }
    loss.backward();
    opt.step();
  };
  step();  // warm-up: allocations, first touch
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(s.B * s.T * steps) / secs;
}
}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 5;
  const MatmulPrecision precision =
      use_matmul_precision(parse_matmul_precision(argc > 2 ? argv[2] : "fp32", "argument 2"));
  std::fprintf(stderr, "matmul precision %s%s%s\n", matmul_precision_name(precision),
               precision == MatmulPrecision::bf16 ? ", kernel " : "",
               precision == MatmulPrecision::bf16 ? bf16_kernel_name(matmul_bf16_kernel()) : "");
  qwen2::Config gpt2;  // GPT-2-small-shaped Qwen2
  gpt2.vocab_size = 50304, gpt2.hidden_size = 768, gpt2.intermediate_size = 3072;
  gpt2.num_hidden_layers = 12, gpt2.num_attention_heads = 12, gpt2.num_key_value_heads = 12;
  gpt2.tie_word_embeddings = true;
  qwen2::Config tiny;  // jobs/tiny/lm.toml
  tiny.vocab_size = 1024, tiny.hidden_size = 128, tiny.intermediate_size = 352;
  tiny.num_hidden_layers = 4, tiny.num_attention_heads = 4, tiny.num_key_value_heads = 2;
  tiny.tie_word_embeddings = true;
  const StepShape shapes[] = {{"gpt2_small_B4_T64", gpt2, 4, 64},
                              {"tiny_job_B8_T128", tiny, 8, 128}};
  std::printf("{");
  for (size_t i = 0; i < 2; ++i)
    for (bool fused : {true, false})
      std::printf("%s\"%s%s\": %.1f", i || !fused ? ", " : "", shapes[i].name,
                  fused ? "" : "_unfused",
                  tokens_per_second(shapes[i], i == 0 ? steps : steps * 10, fused));
  std::printf("}\n");
}
