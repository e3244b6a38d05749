// The sub-commands of the onnx-train CLI that train, evaluate, inspect and export models.
// Each takes its arguments (after the sub-command's name) and returns the exit status;
// errors are thrown as onnx_train::Error and printed by main().
#pragma once

#include <string>
#include <vector>

namespace onnx_train::cli {

// onnx-train MODEL.onnx DATA_DIR [options]: train, validate, checkpoint, export.
int train_command(const std::vector<std::string>& args);
// onnx-train eval MODEL.onnx DATA_DIR [--loss ... --label ... --batch-size N]: loss and accuracy.
int eval_command(const std::vector<std::string>& args);
// onnx-train inspect MODEL.onnx [training options]: inputs, outputs, parameters, ops.
int inspect_command(const std::vector<std::string>& args);
// onnx-train graph MODEL.onnx -o training.onnx [training options]: the forward + backward graph.
int graph_command(const std::vector<std::string>& args);
// onnx-train export CHECKPOINT -o model.onnx: the inference model with the checkpoint's weights.
int export_command(const std::vector<std::string>& args);

}  // namespace onnx_train::cli
