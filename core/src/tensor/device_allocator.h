#pragma once
// Internal: how Storage gets and returns memory on a device. The CPU entry is the caching
// cpu_allocator; a backend registers its own (e.g. a CUDA caching allocator) for its device kind.
#include <cstddef>

#include "xomni/core/tensor/device.h"

namespace xomni {

struct DeviceAllocator {
  void* (*allocate)(size_t nbytes, int device_index);
  void (*release)(void* ptr, size_t nbytes, int device_index);
};

// Returns the entry that was registered before (null if none).
const DeviceAllocator* register_allocator(Device::Kind kind, const DeviceAllocator* allocator);
// Throws "no allocator for device cuda:0 in this build ..." when none is registered.
const DeviceAllocator& allocator_for(Device device);

}  // namespace xomni
