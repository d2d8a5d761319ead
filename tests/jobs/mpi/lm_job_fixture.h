#pragma once
// Shared pieces of the MPI language-model tests: a tiny tokenised corpus, a tiny Qwen2 job, and
// a run directory every rank agrees on.
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "check.h"
#include "lm/lm_job.h"
#include "xomni/core/config/config.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/tensor/random.h"

namespace xomni::test {

inline int mpi_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int mpi_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// A fresh directory under /tmp named after rank 0's pid (the same path on every rank).
inline std::filesystem::path shared_fresh_dir(const std::string& name) {
  long pid = long(::getpid());
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  const auto d =
      std::filesystem::temp_directory_path() / ("xomni_mpi_" + name + "_" + std::to_string(pid));
  if (mpi_rank() == 0) {
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return d;
}

// Counting sequences with a random start and stride (a learnable language), written once by
// rank 0 into <root>/shards.
inline std::string tiny_shards(const std::filesystem::path& root) {
  const std::string dir = (root / "shards").string();
  if (mpi_rank() == 0) {
    write_token_shards(dir, counting_documents(200, 48, 11), 1500, 48);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return dir;
}

// A Qwen2 job small enough for 8 oversubscribed ranks: 8 query heads over 4 KV heads (GQA at
// every tp up to 4), vocabulary 48, two layers. `extra` is appended TOML (e.g. a [parallel]
// section).
inline Config tiny_job(const std::filesystem::path& root, const std::string& shards,
                       const std::string& name, int steps, const std::string& extra = "",
                       int layers = 2, int grad_accum = 2) {
  const std::string text =
      "[run]\nname = \"" + name + "\"\ndir = \"" + root.string() +
      "\"\nseed = 5\n[model]\nvocab_size = 48\nhidden_size = 32\nintermediate_size = 64\n"
      "num_hidden_layers = " +
      std::to_string(layers) +
      "\nnum_attention_heads = 8\nnum_key_value_heads = 4\n"
      "tie_word_embeddings = false\n[data]\ntrain = \"" +
      shards + "\"\n[train]\nsteps = " + std::to_string(steps) +
      "\nbatch_size = 4\nseq_len = 16\ngrad_accum = " + std::to_string(grad_accum) +
      "\nlog_every = 1000\ngrad_clip = 1.0\n"
      "[optimizer]\nlearning_rate = 1e-2\n[schedule]\nkind = \"cosine\"\nwarmup_steps = 3\n" +
      extra;
  return Config::parse(text, "<" + name + ">", train::lm_job_schema());
}

}  // namespace xomni::test
