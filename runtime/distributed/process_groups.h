// The communicators kernels reach by number. A node that communicates (ai.onnx_train.AllReduceSum,
// which sync_batchnorm inserts) carries the integer attribute "group": the number
// register_process_group gave its session's communicator. The registry is process-wide because
// kernels are made from a node alone (runtime/kernels/registry.h).
#pragma once

#include <cstdint>
#include <memory>

#include "onnx_train/distributed.h"

namespace onnx_train {

// Group 0 is always the local group of one process (every collective a no-op).
int64_t register_process_group(std::shared_ptr<Communicator> communicator);
// Throws naming the number when no group has it.
Communicator& process_group(int64_t id);

}  // namespace onnx_train
