#include "xomni/core/tensor/storage.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "tensor/device_allocator.h"
#include "tensor/device_registry.h"
#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/shape.h"

namespace xomni {
namespace cpu_allocator {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kCacheLimit = 0;  // every free goes to the OS so ASan sees use-after-free
#else
constexpr size_t kCacheLimit = size_t(4) << 30;  // beyond this, freed blocks go back to the OS
#endif

// Size classes keep the cache hit rate high when shapes vary a little: up to 4 KiB rounds to
// 64 bytes, above that to 1/8 of the next power of two.
size_t size_class(size_t n) {
  if (n <= 4096) return (n + 63) & ~size_t(63);
  size_t p = 4096;
  while (p < n) p <<= 1;
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

size_t physical_memory() {
  static const size_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(1) << 60;
  }();
  return bytes;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
  size_t cached = 0;
};
Cache& cache() {
  static Cache* c = new Cache();  // leaked on purpose: tensors may be freed during static teardown
  return *c;
}

std::atomic<size_t> g_live{0}, g_peak{0};

void count_handed_out(size_t cls) {
  const size_t now = g_live.fetch_add(cls, std::memory_order_relaxed) + cls;
  size_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

void* allocate(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  // More than the machine's memory can never succeed: say so instead of asking the system (which
  // may overcommit and fail later at first touch, or, under a sanitizer, abort).
  XOMNI_CHECK(nbytes <= physical_memory(), "cpu allocator: out of memory: cannot allocate ",
              human_bytes(double(nbytes)), " (", nbytes, " bytes), more than this machine's ",
              human_bytes(double(physical_memory())), " of memory");
  const size_t cls = size_class(nbytes);
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end()) {
      void* p = it->second;
      c.free_blocks.erase(it);
      c.cached -= cls;
      count_handed_out(cls);
      return p;
    }
  }
  const size_t align = cls >= kHugePage ? kHugePage : 64;
  void* p = std::aligned_alloc(align, (cls + align - 1) / align * align);
  XOMNI_CHECK(p, "cpu allocator: out of memory: cannot allocate ", human_bytes(double(cls)), " (",
              cls, " bytes)");
  if (cls >= kHugePage) madvise(p, cls, MADV_HUGEPAGE);
  count_handed_out(cls);
  return p;
}

void release(void* ptr, size_t nbytes) {
  if (!ptr) return;
  if (nbytes == 0) nbytes = 1;
  const size_t cls = size_class(nbytes);
  g_live.fetch_sub(cls, std::memory_order_relaxed);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.cached + cls > kCacheLimit) {
    std::free(ptr);
    return;
  }
  c.free_blocks.emplace(cls, ptr);
  c.cached += cls;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t live_bytes() {
  return g_live.load(std::memory_order_relaxed);
}
size_t peak_live_bytes() {
  return g_peak.load(std::memory_order_relaxed);
}
void reset_peak() {
  g_peak.store(g_live.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace cpu_allocator

namespace {
const DeviceAllocator kCpuAllocator{
    [](size_t nbytes, int) { return cpu_allocator::allocate(nbytes); },
    [](void* ptr, size_t nbytes, int) { cpu_allocator::release(ptr, nbytes); }};

DeviceRegistry<DeviceAllocator>& allocators() {
  static DeviceRegistry<DeviceAllocator> r("allocator", &kCpuAllocator);
  return r;
}
}  // namespace

const DeviceAllocator* register_allocator(Device::Kind kind, const DeviceAllocator* allocator) {
  return allocators().set(kind, allocator);
}

const DeviceAllocator& allocator_for(Device device) {
  return allocators().get(device);
}

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&allocator_for(device)) {
  try {
    data_ = allocator_->allocate(nbytes, device.index);
  } catch (const std::bad_alloc&) {  // an allocator that reports failure the standard way
    throw Error(detail::concat("out of memory: cannot allocate ", human_bytes(double(nbytes)), " (",
                               nbytes, " bytes) on ", device.str()));
  }
}

Storage::~Storage() {
  allocator_->release(data_, nbytes_, device_.index);
}

void Storage::set_pending(std::function<void(void*)> fill) {
  std::lock_guard<std::mutex> lock(fill_mutex_);
  fill_ = std::move(fill);
  pending_.store(bool(fill_), std::memory_order_release);
}

void Storage::resolve() const {
  std::lock_guard<std::mutex> lock(fill_mutex_);
  if (!pending_.load(std::memory_order_relaxed)) return;  // another thread filled it meanwhile
  fill_(data_);
  fill_ = nullptr;
  pending_.store(false, std::memory_order_release);
}

}  // namespace xomni
