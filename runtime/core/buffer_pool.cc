#include "runtime/core/buffer_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <map>

namespace onnx_train {

namespace {
constexpr size_t kAlignment = 64;
// A free block serves a request of at least 1/kMaxWaste of its size.
constexpr size_t kMaxWaste = 2;

size_t round_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

void* raw_allocate(size_t bytes) {
  void* p = std::aligned_alloc(kAlignment, round_up(bytes == 0 ? 1 : bytes));
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

struct BufferPool::State {
  std::mutex mutex;
  bool alive = true;
  // block size -> free block, smallest first: a request takes the smallest free block that
  // fits it and wastes at most half of it (best fit), so storage freed by the forward pass
  // serves the backward pass's differently shaped values instead of lying idle beside new blocks.
  std::multimap<size_t, void*> free_blocks;
  Stats stats;
  size_t bytes_in_use = 0;

  ~State() {
    for (auto& [size, block] : free_blocks) std::free(block);
  }
};

std::shared_ptr<void> allocate_aligned(size_t bytes, bool zero_fill) {
  void* p = raw_allocate(bytes);
  if (zero_fill) std::memset(p, 0, round_up(bytes == 0 ? 1 : bytes));
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

BufferPool::BufferPool() : state_(std::make_shared<State>()) {}

BufferPool::~BufferPool() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->alive = false;
}

std::shared_ptr<void> BufferPool::acquire(size_t bytes, bool zero_fill) {
  const size_t wanted = round_up(bytes == 0 ? 1 : bytes);
  void* block = nullptr;
  size_t size = wanted;  // the block's own size, which goes back to the pool with it
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->free_blocks.lower_bound(wanted);
    if (it != state_->free_blocks.end() && it->first <= kMaxWaste * wanted) {
      size = it->first;
      block = it->second;
      state_->free_blocks.erase(it);
    }
    state_->bytes_in_use += size;
    if (state_->bytes_in_use > state_->stats.peak_bytes_in_use) state_->stats.peak_bytes_in_use = state_->bytes_in_use;
    if (block == nullptr) {
      ++state_->stats.system_allocations;
      state_->stats.bytes_held += size;
    }
  }
  if (block == nullptr) block = raw_allocate(size);
  if (zero_fill) std::memset(block, 0, wanted);
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<void>(block, [state, size](void* p) {
    std::lock_guard<std::mutex> lock(state->mutex);
    state->bytes_in_use -= size;
    if (state->alive) {
      state->free_blocks.emplace(size, p);
    } else {
      state->stats.bytes_held -= size;
      std::free(p);
    }
  });
}

size_t BufferPool::release_free_blocks() {
  std::multimap<size_t, void*> blocks;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    blocks.swap(state_->free_blocks);
  }
  size_t bytes = 0;
  for (auto& [size, block] : blocks) {
    std::free(block);
    bytes += size;
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->stats.bytes_held -= bytes;
  return bytes;
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stats;
}

}  // namespace onnx_train
