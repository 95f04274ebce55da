#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

namespace dr {

namespace {
constexpr uintptr_t kHugePage = 2u << 20;
}

void AdviseHugePages(void* data, size_t size) {
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) & ~(kHugePage - 1);
  if (end <= begin) return;
  // Only advice: a kernel without THP, or a mapping that refuses it, just
  // keeps small pages.
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

void ReserveLarge(std::string& s, size_t capacity) {
  const bool grows = capacity > s.capacity();
  s.reserve(capacity);
  if (grows && capacity >= 2 * kHugePage) AdviseHugePages(s.data(), s.capacity());
}

}  // namespace dr
