#include "runtime/core/buffer_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

namespace onnx_train {

namespace {
constexpr size_t kAlignment = 64;

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
  // rounded size -> free blocks of that size; vectors keep their capacity, so returning and
  // taking blocks in a steady state allocates nothing.
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  Stats stats;
  size_t bytes_in_use = 0;

  ~State() {
    for (auto& [size, blocks] : free_blocks)
      for (void* block : blocks) std::free(block);
  }
};

std::shared_ptr<void> allocate_aligned(size_t bytes) {
  void* p = raw_allocate(bytes);
  std::memset(p, 0, round_up(bytes == 0 ? 1 : bytes));
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

BufferPool::BufferPool() : state_(std::make_shared<State>()) {}

BufferPool::~BufferPool() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->alive = false;
}

std::shared_ptr<void> BufferPool::acquire(size_t bytes) {
  const size_t size = round_up(bytes == 0 ? 1 : bytes);
  void* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->free_blocks.find(size);
    if (it != state_->free_blocks.end() && !it->second.empty()) {
      block = it->second.back();
      it->second.pop_back();
    }
    state_->bytes_in_use += size;
    if (state_->bytes_in_use > state_->stats.peak_bytes_in_use) state_->stats.peak_bytes_in_use = state_->bytes_in_use;
    if (block == nullptr) {
      ++state_->stats.system_allocations;
      state_->stats.bytes_held += size;
    }
  }
  if (block == nullptr) block = raw_allocate(size);
  std::memset(block, 0, size);
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<void>(block, [state, size](void* p) {
    std::lock_guard<std::mutex> lock(state->mutex);
    state->bytes_in_use -= size;
    if (state->alive) {
      state->free_blocks[size].push_back(p);
    } else {
      state->stats.bytes_held -= size;
      std::free(p);
    }
  });
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stats;
}

}  // namespace onnx_train
