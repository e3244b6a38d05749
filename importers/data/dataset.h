// The training data API moved to the public onnx_train/dataset.h (runtime/include/). This
// forward is kept only until the last includers (tools/onnx-train/train_common.h,
// train_data.h, train_command.cc) name the new place; new code includes onnx_train/dataset.h.
#pragma once

#include "onnx_train/dataset.h"
