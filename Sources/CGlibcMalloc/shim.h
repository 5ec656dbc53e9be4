// glibc's allocator tuning (malloc.h is not part of Swift's Glibc module).
#ifndef LANCHAT_CGLIBCMALLOC_SHIM_H
#define LANCHAT_CGLIBCMALLOC_SHIM_H

#include <malloc.h>

/// Sets how much free memory may sit at the top of the heap before it is returned to the kernel, and the size
/// from which allocations get their own mapping.
static inline void lanchat_set_malloc_thresholds(int trim, int mmap) {
    mallopt(M_TRIM_THRESHOLD, trim);
    mallopt(M_MMAP_THRESHOLD, mmap);
}

/// Hands the free memory of every arena (whole pages, also inside the heap) back to the kernel.
static inline void lanchat_release_free_memory(void) {
    malloc_trim(0);
}

#endif
