// BufferPool: recycles tensor storage by byte size (best fit: a freed block serves any request
// of at least half its size).
//
// The executor frees each intermediate at its last use; its storage goes back to the pool
// and the next tensor of the same size takes it. After the first step of a given input
// shape, a steady-state step allocates nothing from the system.
//
// NOTE: each handed-out block still costs one small shared_ptr control block; a static
// offset plan (one arena per step shape) would remove that too.
// NOTE: the pool's state is shared with every block it hands out, so a tensor may outlive
// the pool (a returned output, say): its block is then simply freed.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

namespace onnx_train {

class BufferPool {
 public:
  BufferPool();
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A block of at least `bytes` bytes, 64-byte aligned, zero-filled unless the caller will
  // overwrite all of it (zero_fill false).
  std::shared_ptr<void> acquire(size_t bytes, bool zero_fill = true);

  struct Stats {
    size_t system_allocations = 0;  // blocks taken from the system so far
    size_t bytes_held = 0;          // bytes in blocks owned by the pool (free or in use)
    size_t peak_bytes_in_use = 0;   // high-water mark of bytes handed out at once
  };
  Stats stats() const;

  // Frees every block not in use, for when no step follows soon (a training run's end, before
  // its export): the next acquire takes from the system again. Returns the bytes freed.
  size_t release_free_blocks();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// 64-byte aligned storage (zero-filled unless zero_fill is false) that is freed when the last
// owner goes away.
std::shared_ptr<void> allocate_aligned(size_t bytes, bool zero_fill = true);

}  // namespace onnx_train
