#pragma once
// Sub-commands of `xomni data` that live in their own files; cmd_data.cpp owns the `data` command
// and dispatches to them.
#include <string>
#include <vector>

namespace xomni::cli {

// `xomni data import ...`: args are what follows "import". Returns the exit status.
// Implemented in cmd_data_import.cpp.
int data_import_main(const std::vector<std::string>& args);
// `xomni data check DATASET_DIR`: GenEval pass rates of the scene samples (cmd_data_check.cpp).
int data_check_main(const std::vector<std::string>& args);
// `xomni data mm-pack ...` and `xomni data mm-tokenizer ...`: multimodal token shards and their
// text tokenizer (cmd_mm_pack.cpp).
int data_mm_pack_main(const std::vector<std::string>& args);
int data_mm_tokenizer_main(const std::vector<std::string>& args);
// `xomni data realism ...`: the realism scorer's labelled renderings (cmd_data_realism.cpp).
int data_realism_main(const std::vector<std::string>& args);
// `xomni data realism-eval --checkpoint CKPT DATASET`: a scorer's accuracy per sample kind.
int data_realism_eval_main(const std::vector<std::string>& args);

}  // namespace xomni::cli
