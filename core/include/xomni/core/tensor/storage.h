#pragma once
// Reference-counted byte buffers on a device, and the caching CPU allocator.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

#include "xomni/core/tensor/device.h"

namespace xomni {

struct DeviceAllocator;

// Memory comes from the allocator registered for the device's kind (the caching CPU allocator
// below for cpu); a device without one is refused with a clear error.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // The bytes. Where they are still arriving (set_pending), the fill runs first.
  void* data() const {
    if (pending_.load(std::memory_order_acquire)) [[unlikely]]
      resolve();
    return data_;
  }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Marks the contents as still arriving (e.g. a parameter all-gather in flight): `fill` runs
  // once, before the first access through data() by any tensor on this storage, and receives the
  // buffer so it can write it (data() from inside the fill would wait for itself). Other threads
  // touching the storage meanwhile wait for the fill to finish. An empty `fill` clears a pending
  // one without running it. An exception from the fill propagates and leaves it pending.
  void set_pending(std::function<void(void* data)> fill);
  bool pending() const { return pending_.load(std::memory_order_acquire); }
  // Runs a pending fill now (a no-op when none is pending).
  void resolve() const;

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  const DeviceAllocator* allocator_;  // the one that allocated, so release goes back to it
  mutable std::atomic<bool> pending_{false};
  mutable std::mutex fill_mutex_;
  mutable std::function<void(void*)> fill_;
};

// Fresh pages are slow to fault in on small VMs, so freed CPU blocks are kept per size class
// and handed out again. Blocks of 2 MiB and more are aligned and advised as huge pages.
namespace cpu_allocator {
void* allocate(size_t nbytes);
void release(void* ptr, size_t nbytes);
void empty_cache();     // returns every cached block to the system
size_t cached_bytes();  // bytes held in the cache, not in use
// Bytes of blocks handed out and not released (their size classes), and the most there have
// been since the process started or reset_peak(): the tensors' own memory, without the cache,
// the runtime and whatever else the resident set holds.
size_t live_bytes();
size_t peak_live_bytes();
void reset_peak();
}  // namespace cpu_allocator

}  // namespace xomni
