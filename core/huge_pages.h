// Large buffers (packs of tens of MiB) filled once and freed: on a virtual
// machine each 4 KiB page fault of a fresh buffer costs more than copying
// the page. Asking for transparent huge pages makes that one fault per
// 2 MiB where the kernel allows it (THP "madvise" mode, Debian's default);
// elsewhere the advice is ignored.
#pragma once

#include <cstddef>
#include <string>

namespace dr {

// Advises huge pages for the 2 MiB-aligned part of [data, data + size).
void AdviseHugePages(void* data, size_t size);

// `s.reserve(capacity)`, then the advice on its buffer (only for buffers
// large enough to hold a huge page).
void ReserveLarge(std::string& s, size_t capacity);

}  // namespace dr
