// onnx_train/losses.h: the losses a training session can append to a model's output.
//
// Each loss is PyTorch's torch.nn.functional loss with the same options; the label is a new
// model input named LossOptions::label, the scalar loss a new output. Reduced by
// reduction = "mean" (over elements; for the class losses over the targets that are not
// ignore_index) or "sum". With y the model output, t the label:
//   CrossEntropy   F.cross_entropy(y, t, ignore_index, label_smoothing): y [N, C] or
//                  [N, C, d1, ...] (per-pixel) logits, t [N] or [N, d1, ...] class indices;
//                  or, with the classes on the last axis (class_axis), y [N, d1, ..., C] and
//                  t [N, d1, ...]: a language model's [batch, tokens, vocabulary] logits, scored
//                  as F.cross_entropy(y.view(-1, C), t.view(-1)) (Flatten and Reshape, no copy).
//                  SoftmaxCrossEntropyLoss (opset 12+). With label smoothing eps (which the
//                  ONNX op lacks) it is composed as in PyTorch:
//                    (1 - eps) * nll + eps * reduce(valid * mean_c(-log_softmax(y))),
//                  valid = [t != ignore_index], "mean" dividing by the number of valid targets.
//   NLL            F.nll_loss(y, t, ignore_index): y already log-probabilities (the model
//                  ends in LogSoftmax); NegativeLogLikelihoodLoss (opset 12+).
//   MSE            F.mse_loss: reduce((y - t)^2).
//   L1             F.l1_loss: reduce(|y - t|).
//   Huber          F.huber_loss(delta): with a = |y - t|, q = min(a, delta):
//                  reduce(q * (a - q / 2)), which is a^2 / 2 for a < delta and
//                  delta * (a - delta / 2) otherwise, and whose gradient is PyTorch's.
//   BCEWithLogits  F.binary_cross_entropy_with_logits: reduce(softplus(y) - y * t), the
//                  stable form of -(t log sigmoid(y) + (1 - t) log(1 - sigmoid(y))).
// The regression losses and BCEWithLogits take a float target of the output's shape and type.
// The class losses need the graph's default-domain opset to be 12 or more: TrainingSession
// upgrades an older model with ONNX's version converter and says so in its notes(); every
// emitted op has a kernel and a gradient rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "onnx_train/dtype.h"

namespace onnx_train {

enum class LossKind { CrossEntropy, NLL, MSE, L1, Huber, BCEWithLogits };

// The CLI names: cross-entropy, nll, mse, l1, huber, bce-with-logits. Throws an Error
// listing them for any other name.
LossKind parse_loss_kind(const std::string& name);
std::string loss_kind_name(LossKind kind);

struct LossOptions {
  LossKind kind = LossKind::CrossEntropy;
  std::string output;                // the model output the loss reads; "" = the first graph output
  std::string label = "label";       // name of the new graph input holding the target
  std::string reduction = "mean";    // mean | sum
  float label_smoothing = 0;         // cross-entropy only, in [0, 1]
  int64_t ignore_index = -100;       // cross-entropy / NLL: targets with this class count for nothing
  float huber_delta = 1;             // Huber only, > 0
  DType label_dtype = DType::Int64;  // class losses: Int64, or Int32 (cast to int64 in the graph)
  // Class losses: the output's axis that holds the classes, 1 (PyTorch's and ONNX's [N, C, d1, ...])
  // or the last (-1 or rank - 1: [N, d1, ..., C], what sequence models output). Unset: the last
  // axis of a rank-3 output ([batch, tokens, classes]: transformers, taggers, RNNs), axis 1
  // otherwise ([N, C] classifiers, [N, C, H, W] segmentation). Set it to 1 for a [N, C, L] output.
  std::optional<int64_t> class_axis;
};

// The class axis of a class loss on an output of rank `rank` (>= 2), as a non-negative axis:
// options.class_axis resolved (see above). Throws for an axis that is neither 1 nor the last.
int64_t resolved_class_axis(const LossOptions& options, size_t rank);

}  // namespace onnx_train
