#pragma once
// The registry behind grad_hooks.h, as the autograd engine reads it.
#include <functional>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni::detail {

// True when any hook is registered (one atomic load: the engine's fast path).
bool any_post_accumulate_hooks();
// Whether `leaf` has hooks (false for a destroyed leaf whose address was reused).
bool has_post_accumulate_hooks(const TensorImpl* leaf);
// Runs `leaf`'s hooks in registration order (a snapshot: a hook may remove itself).
void run_post_accumulate_hooks(const TensorImpl* leaf);

}  // namespace xomni::detail
