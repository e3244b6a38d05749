// TrainingSession::export_training_model: the model with ONNX's TrainingInfoProto, and
// restore_training_info, which lets from_file continue training from such a file.
//
// THE FILE (one onnx.ModelProto; importers/training_info_io.h writes it)
//
// graph: the inference model as export_model writes it (the user's graph, opset, functions and
//   metadata with the current parameters and BatchNormalization running statistics, in eval
//   form; importers/model_source.h), except that weights the session trained from Constant
//   nodes are initializers (update_binding binds initializers). A model the session upgraded
//   for its loss is written as the session holds it, at the upgraded opset (one opset import
//   serves both graphs, and the older opset lacks the loss). Then initializers that no node
//   reads (so the graph runs and checks as before):
//     "optimizer/<parameter>/<slot>"  the optimizer state of every trained parameter, with
//                                     the names and values of checkpoints and
//                                     Optimizer::state() (PyTorch's slot names; "step" is the
//                                     parameter's int64 step count). Before the first step the
//                                     initial state (zeros, Adagrad's initial accumulator).
//     "training/update_count"         int64 scalar: optimizer steps done (the session's step).
//
// training_info[0].algorithm: one training step on one batch. Per the ONNX IR, it runs as
//   the concatenation of the inference graph and this graph, so it reads the inference
//   graph's inputs and initializers by name and defines no name the inference graph has:
//     inputs   the label (when the session appended a loss; the model inputs come from the
//              inference graph) and, when an ONNX operator updates the parameters,
//              "training/learning_rate": a float64 scalar (the session's rates are doubles),
//              the rate of this step (metadata onnx_train.next_learning_rate holds the
//              schedule's for the next step).
//     nodes    the session's training graph, copied (for a model of opset 18-23, which the
//              session runs lowered to opset 17, raised back to the model's opset:
//              importers/raise_opset.h): the forward pass in training form
//              (BatchNormalization on batch statistics and updating its running statistics,
//              seeded Dropout), the loss, the backward graph (ops of our domain
//              ai.onnx_train stay as they are; the model imports that domain), then gradient
//              clipping as the session does it (global 2-norm, computed in float64, then
//              value clipping), then the update. Values (and node names) the inference
//              graph also has are renamed "train/<name>" ("train/0/Conv_output_0" for
//              "/0/Conv_output_0"; "<name>_1"-like when that is taken too).
//     initializers  constants the loss and the backward graph add, and "training/one".
//     outputs  the loss, then every value an update_binding names (and for the kinds
//              without an ONNX update, the clipped gradients "<parameter>_grad"-like).
//   initialization: left unset (the initializers hold the starting values).
//   update_binding: every parameter -> its new value, every optimizer state tensor and step
//     count -> its new value, "training/update_count" -> update_count + 1, every
//     BatchNormalization running statistic -> its updated value.
//
// THE UPDATE (ai.onnx.preview.training, version 1; R = training/learning_rate, one node per
// weight-decay group: norm_coefficient = weight_decay for the parameters that decay, 0 for
// the others)
//   sgd      Momentum: alpha = momentum, beta = 1 - dampening, mode "standard" or
//            "nesterov", T = update_count, V = optimizer/<p>/momentum_buffer. ONNX's first
//            step (T = 0) takes V_new = G like torch.optim's first step, so this is torch's
//            SGD exactly. Without momentum, alpha = 0 and V = X * 0 (a zero tensor in the
//            graph: torch keeps no buffer, neither does the file).
//   adam     Adam: alpha = beta1, beta = beta2, epsilon = eps, norm_coefficient = weight
//            decay (L2, as torch's Adam), norm_coefficient_post = 0, T = update_count + 1
//            (ONNX corrects the bias only for T > 0: torch's t counts from 1), V = exp_avg,
//            H = exp_avg_sq. ONNX adds epsilon to sqrt(H) before the bias correction, torch
//            after it: torch's step equals ONNX's with epsilon * sqrt(1 - beta2^t), which
//            differs only while sqrt(H) is near epsilon. amsgrad has no ONNX form (below).
//   adagrad  Adagrad: decay_factor = lr_decay, epsilon = eps, T = update_count (torch's
//            t - 1), H = optimizer/<p>/sum: torch's Adagrad exactly.
//   adamw, rmsprop, lamb, adam with amsgrad: ONNX has no operator. The algorithm computes the
//            forward pass, loss, backward graph and clipping only and outputs the gradients;
//            update_binding holds the running statistics only; metadata onnx_train.update
//            says that the parameter update is onnx-train's (runtime/optim, named in
//            onnx_train.optimizer). No op is invented.
//   Attributes are float32 (ONNX's attribute type), so e.g. beta2 = 0.999 is rounded there
//   (float32 parameters see the same values as the session; float64 ones may differ in the
//   last bits), as are Clip-6's bounds of value clipping at opsets below 11.
//   Not expressed: gradient accumulation (one algorithm run is one batch and one step) and
//   the schedule (R is an input; metadata onnx_train.schedule has it).
//   tests/train/training_info_test.cc runs the concatenated graph in our runtime against the
//   session's own steps: bit for bit for SGD (with clipping) and Adagrad on float32.
//
// METADATA (metadata_props; every key starts with "onnx_train.")
//   training_info    "1": the format version; marks a file this code wrote
//   loss / model_loss, loss_output, loss_label, loss_reduction, label_smoothing, ignore_index,
//                    huber_delta, label_dtype, loss_value (the algorithm's loss output)
//   optimizer        the kind; optimizer.<option> every option with the kind's defaults filled
//   no_decay         the parameters weight decay skips, comma-separated
//   update           which ONNX operator updates the parameters, or why none does
//   learning_rate_input (when R is read), next_learning_rate, schedule (format_schedule),
//   step, seed, clip_grad_norm, clip_grad_value, accumulation_steps
//   rng/<output>     the state of every Dropout generator, keyed by its node's first output in
//                    the session's training graph (from_file rebuilds the same graph)
//
// CONTINUING (restore_training_info, called at the end of TrainingSession::from_file)
//   Any model file trains as usual; for a file that carries onnx_train.training_info:
//   - the "optimizer/..." and "training/update_count" initializers (which no node reads, so
//     they were never trainable) are removed from the session's graphs and plans (its
//     export_model writes the inference model only), as are the ai.onnx.preview.training and
//     ai.onnx_train opset imports no inference node uses;
//   - when the session's optimizer kind is the file's and every trained parameter has its
//     state there (the slots this session's optimizer keeps, of the parameter's shape and
//     type), the optimizer state, the step and the schedule are loaded (set_schedule or
//     set_learning_rate afterwards changes the schedule), and with the same seed the Dropout
//     generators too: the run goes on as the exporting session would have, bit for bit.
//     Otherwise (another kind, other options or parameters) the session starts afresh at
//     step 0 from the file's weights, as from any model.
#pragma once

#include <string>

#include "runtime/train/session_impl.h"

namespace onnx_train {

// Loads the training state of an export_training_model file into a session just built from
// it (see above); does nothing for any other model.
void restore_training_info(TrainingSession::Impl& impl, const std::string& model_path);

}  // namespace onnx_train
