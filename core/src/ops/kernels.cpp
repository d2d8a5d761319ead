// The kernel registry: the CPU table is always there; other backends register theirs.
#include "ops/kernels.h"

#include "ops/cpu/cpu_kernels.h"
#include "tensor/device_registry.h"

namespace xomni {
namespace {
DeviceRegistry<Kernels>& registry() {
  static DeviceRegistry<Kernels> r("kernels", &cpu::cpu_kernels());
  return r;
}
}  // namespace

const Kernels& kernels_for(Device device) {
  return registry().get(device);
}

const Kernels* register_kernels(Device::Kind kind, const Kernels* table) {
  return registry().set(kind, table);
}

}  // namespace xomni
