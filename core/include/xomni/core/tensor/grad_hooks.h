#pragma once
// Post-accumulate hooks: a callback that runs when a backward pass has accumulated the last
// contribution to a leaf's .grad, so that gradient is final for the pass (e.g. to start
// reducing it over data-parallel ranks while backward goes on).
//
// A hook runs once per backward pass that reaches the leaf, however many ops use it (a tied
// embedding's lookup and head), and not at all in a pass that does not reach it. Leaves that get
// gradient inside activation-recomputed blocks (checkpoint) are finished only when the outermost
// pass ends, since a later block may use them again; a leaf whose hook already ran in a pass and
// which then receives more from a recomputed block is an error. Hooks run on the backward
// thread with grad mode off and must not start another backward. Without any hook registered
// the engine pays one check per pass.
#include <cstdint>
#include <functional>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

// Registers `hook` on `leaf` (a leaf tensor; while it does not require grad no pass reaches it)
// and returns an id for removal. The registration lives until removed or until the leaf's
// TensorImpl is destroyed.
int64_t add_post_accumulate_hook(const Tensor& leaf, std::function<void()> hook);
// Removes the hook `id` (no-op when it is not registered).
void remove_post_accumulate_hook(int64_t id);

}  // namespace xomni
