// Process-wide settings every program of the project applies first thing.
#pragma once

namespace dr {

// Tunes glibc's allocator for buffers of megabytes passed between threads
// (chunks, packs, 4 MiB network frames). Call once, before any thread starts.
void TuneAllocatorForLargeBuffers();

}  // namespace dr
