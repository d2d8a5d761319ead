// Post-accumulate hook registry: kept beside TensorImpl rather than in it, keyed by the impl's
// address and checked against a weak pointer so a reused address never inherits hooks.
#include "xomni/core/tensor/grad_hooks.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "grad_hooks_registry.h"

namespace xomni {
namespace {

struct Entry {
  int64_t id;
  std::function<void()> hook;
};
struct Leaf {
  std::weak_ptr<TensorImpl> impl;
  std::vector<Entry> hooks;
};

struct Registry {
  std::mutex mu;
  std::unordered_map<const TensorImpl*, Leaf> leaves;
  std::unordered_map<int64_t, const TensorImpl*> owner;  // hook id -> leaf
  int64_t next_id = 1;
  std::atomic<int64_t> count{0};
};

Registry& registry() {
  static Registry r;
  return r;
}

// The live entry of `leaf`, or null (dropping a stale one). Caller holds the lock.
Leaf* find_live(Registry& r, const TensorImpl* leaf) {
  auto it = r.leaves.find(leaf);
  if (it == r.leaves.end()) return nullptr;
  if (it->second.impl.lock().get() == leaf) return &it->second;
  for (const Entry& e : it->second.hooks) r.owner.erase(e.id);
  r.count -= int64_t(it->second.hooks.size());
  r.leaves.erase(it);
  return nullptr;
}

}  // namespace

int64_t add_post_accumulate_hook(const Tensor& leaf, std::function<void()> hook) {
  XOMNI_CHECK(leaf.defined() && leaf.is_leaf(),
              "add_post_accumulate_hook: the tensor must be a leaf (a parameter), not the result "
              "of an op");
  XOMNI_CHECK(hook != nullptr, "add_post_accumulate_hook: the hook is empty");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const TensorImpl* key = &leaf.impl();
  Leaf* l = find_live(r, key);
  if (!l) {
    l = &r.leaves[key];
    l->impl = leaf.impl_ptr();
  }
  const int64_t id = r.next_id++;
  l->hooks.push_back({id, std::move(hook)});
  r.owner[id] = key;
  ++r.count;
  return id;
}

void remove_post_accumulate_hook(int64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto o = r.owner.find(id);
  if (o == r.owner.end()) return;
  auto it = r.leaves.find(o->second);
  r.owner.erase(o);
  if (it == r.leaves.end()) return;
  auto& hooks = it->second.hooks;
  hooks.erase(
      std::remove_if(hooks.begin(), hooks.end(), [id](const Entry& e) { return e.id == id; }),
      hooks.end());
  --r.count;
  if (hooks.empty()) r.leaves.erase(it);
}

namespace detail {

bool any_post_accumulate_hooks() {
  return registry().count.load(std::memory_order_relaxed) > 0;
}

bool has_post_accumulate_hooks(const TensorImpl* leaf) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return find_live(r, leaf) != nullptr;
}

void run_post_accumulate_hooks(const TensorImpl* leaf) {
  std::vector<Entry> hooks;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    if (Leaf* l = find_live(r, leaf)) hooks = l->hooks;
  }
  for (const Entry& e : hooks) e.hook();
}

}  // namespace detail
}  // namespace xomni
