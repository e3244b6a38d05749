// The sub-commands of the onnx-train CLI, the handlers of the table in subcommands.cc (which
// also gives their usage lines). Each takes its arguments (after the sub-command's name) and
// returns the exit status; errors are thrown as onnx_train::Error and printed by main().
#pragma once

#include <string>
#include <vector>

namespace onnx_train::cli {

// onnx-train MODEL.onnx DATA_DIR [options]: train, validate, checkpoint, export.
int train_command(const std::vector<std::string>& args);
// onnx-train eval MODEL.onnx|CHECKPOINT DATA_DIR [--loss ... --label ... --batch-size N --plot FILE.svg]:
// loss and accuracy, and a classifier's confusion matrix and per-class scores (eval_command.cc).
int eval_command(const std::vector<std::string>& args);
// onnx-train predict MODEL.onnx DATA -o predictions.csv [--top-k K]: a CSV row per sample with
// the predicted class and its probabilities, or the output's values (predict_command.cc).
int predict_command(const std::vector<std::string>& args);
// onnx-train inspect MODEL.onnx [training options]: inputs, outputs, parameters, ops, and the
// metadata onnx-train exported with it; inspect CHECKPOINT: its step, run, tensors by role
// (inspect_command.cc).
int inspect_command(const std::vector<std::string>& args);
// onnx-train graph MODEL.onnx -o training.onnx [training options]: the graph a training run
// steps (forward, loss, backward). With --minimise VALUE instead of a loss: the forward +
// backward graph of a value of the model itself ([--freeze REGEX]... [--input-grad NAME]...).
int graph_command(const std::vector<std::string>& args);
// onnx-train training-graph MODEL.onnx --loss VALUE -o OUT.onnx ...: graph's older name, kept
// for a release; its --loss is graph's --minimise (graph's --loss is a loss kind).
int training_graph_command(const std::vector<std::string>& args);
// onnx-train export CHECKPOINT -o model.onnx: the inference model with the checkpoint's weights.
int export_command(const std::vector<std::string>& args);
// onnx-train run MODEL.onnx [--input NAME=FILE.pb ...] [--batch N] [--repeat N [--profile]]:
// one run (or timed runs) of the model, its outputs printed (run_command.cc).
int run_command(const std::vector<std::string>& args);
// onnx-train ops: every supported op with its kernel and gradient versions (run_command.cc).
int ops_command(const std::vector<std::string>& args);

}  // namespace onnx_train::cli
