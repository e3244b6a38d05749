// Data-movement kernels (Transpose, Concat, Split, Slice, Pad, Tile, Expand, DepthToSpace,
// SpaceToDepth, Trilu), registered from register_shape_kernels in shape_ops.cc.
#pragma once

namespace onnx_train {

class KernelRegistry;

void register_shape_movement_kernels(KernelRegistry& registry);  // reference/shape_movement.cc

}  // namespace onnx_train
