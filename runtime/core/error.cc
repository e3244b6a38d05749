// Names of the error categories (onnx_train/error.h).
#include "onnx_train/error.h"

namespace onnx_train {

const char* category_name(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::Unspecified: return "unspecified";
    case ErrorCategory::Usage: return "usage";
    case ErrorCategory::Model: return "model";
    case ErrorCategory::Data: return "data";
    case ErrorCategory::Checkpoint: return "checkpoint";
    case ErrorCategory::ResourceLimit: return "resource-limit";
    case ErrorCategory::Unsupported: return "unsupported";
    case ErrorCategory::NonFinite: return "non-finite";
    case ErrorCategory::Io: return "io";
    case ErrorCategory::Distributed: return "distributed";
  }
  return "unspecified";
}

}  // namespace onnx_train
