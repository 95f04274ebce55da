#include "core/env/process_tuning.h"

#include <malloc.h>

namespace dr {

void TuneAllocatorForLargeBuffers() {
  // A fixed mmap threshold above the largest frame keeps megabyte buffers in
  // the heap: glibc's dynamic threshold otherwise maps and unmaps many of
  // them, and every fresh mapping is page-faulted in again (measured at the
  // vault: 7 s of CPU serving a 1 GiB restore, 2.5 s with these settings).
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  // Pinning the mmap threshold also pins the trim threshold at 128 KiB, and
  // then every freed buffer at the heap top goes back to the kernel only to
  // be faulted in again (seen: 11k brk calls in one verify).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace dr
