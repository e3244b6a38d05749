// A build without MPI (CMake found no libopenmpi-dev): every run is one process.

#include "onnx_train/distributed.h"
#include "onnx_train/error.h"

namespace onnx_train {

bool mpi_built() { return false; }

std::shared_ptr<Communicator> mpi_communicator() {
  OT_FAIL_AS(ErrorCategory::Unsupported,
             "this onnx-train was built without MPI: install libopenmpi-dev and openmpi-bin and build again "
             "(tools/setup.sh does) to train across processes");
}

void finalize_mpi() {}

}  // namespace onnx_train
