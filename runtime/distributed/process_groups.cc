#include "runtime/distributed/process_groups.h"

#include <mutex>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<Communicator>> groups{local_communicator()};
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

int64_t register_process_group(std::shared_ptr<Communicator> communicator) {
  OT_CHECK(communicator != nullptr, "register_process_group: no communicator");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (size_t i = 0; i < r.groups.size(); ++i)
    if (r.groups[i] == communicator) return static_cast<int64_t>(i);
  r.groups.push_back(std::move(communicator));
  return static_cast<int64_t>(r.groups.size() - 1);
}

Communicator& process_group(int64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  OT_CHECK(id >= 0 && id < static_cast<int64_t>(r.groups.size()),
           "process group {} is unknown in this process (a training graph with AllReduceSum nodes runs only in the "
           "session that made it)",
           id);
  return *r.groups[static_cast<size_t>(id)];
}

}  // namespace onnx_train
