#pragma once
// Reference-counted byte buffers on a device, and the caching CPU allocator.
#include <cstddef>
#include <memory>

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

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  const DeviceAllocator* allocator_;  // the one that allocated, so release goes back to it
};

// Fresh pages are slow to fault in on small VMs, so freed CPU blocks are kept per size class
// and handed out again. Blocks of 2 MiB and more are aligned and advised as huge pages.
namespace cpu_allocator {
void* allocate(size_t nbytes);
void release(void* ptr, size_t nbytes);
void empty_cache();     // returns every cached block to the system
size_t cached_bytes();  // bytes held in the cache, not in use
}  // namespace cpu_allocator

}  // namespace xomni
