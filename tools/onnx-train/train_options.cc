#include "tools/onnx-train/train_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "onnx_train/error.h"
#include "onnx_train/limits.h"
#include "onnx_train/losses.h"
#include "onnx_train/schedules.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/validation_metric.h"

namespace onnx_train::cli {

namespace {

double to_double(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0 && std::isfinite(v), "{} takes a number, got '{}'", flag, text);
  return v;
}

std::vector<float> to_floats(const std::string& flag, const std::string& text) {
  std::vector<float> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    out.push_back(static_cast<float>(to_double(flag, text.substr(begin, comma - begin))));
    begin = comma + 1;
  }
  return out;
}

// "a,b,c" as names, none of them empty.
std::vector<std::string> to_names(const std::string& flag, const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    out.push_back(text.substr(begin, comma - begin));
    OT_CHECK(!out.back().empty(), "{} takes column names separated by commas, got '{}'", flag, text);
    begin = comma + 1;
  }
  return out;
}

double positive(const std::string& flag, double v, bool allow_zero = true) {
  OT_CHECK(v > 0 || (allow_zero && v == 0), "{} must be {}, got {}", flag, allow_zero ? "0 or more" : "positive", v);
  return v;
}

using Setter = std::function<void(TrainConfig&, const std::string& flag, const std::string& value)>;
// The value as the option means it (a kind lower-cased), or an Error naming the flag.
using Canonical = std::function<std::string(const std::string& flag, const std::string& value)>;

struct Flag {
  std::string name;     // "--lr"
  std::string alias;    // "-o", or ""
  std::string metavar;  // "" for a switch
  std::string help;
  Setter set;
  // nullptr: the value as typed. Else what `set` gets and checkpoints keep, so that a resumed
  // run given `--optimizer SGD` compares equal to one given `sgd`.
  Canonical canonical = nullptr;
};

std::string lower_case(std::string text) {
  for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text;
}

// `value` lower-cased when it is one of `kinds` in any case (the library takes them lower-case
// only); else an Error naming the nearest and listing them:
// "--optimizer adamm: unknown kind (did you mean adam?); the kinds are sgd, adam, ...".
std::string one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& kinds) {
  const std::string lower = lower_case(value);
  if (std::find(kinds.begin(), kinds.end(), lower) != kinds.end()) return lower;
  OT_FAIL("{} {}: unknown kind{}; the kinds are {}", flag, value, did_you_mean(value, kinds), fmt::join(kinds, ", "));
}

std::vector<std::string> loss_kinds() {
  std::vector<std::string> kinds;
  for (LossKind k :
       {LossKind::CrossEntropy, LossKind::NLL, LossKind::MSE, LossKind::L1, LossKind::Huber, LossKind::BCEWithLogits})
    kinds.push_back(loss_kind_name(k));
  kinds.push_back("none");  // the model outputs its own loss
  return kinds;
}

// The kinds make_optimizer builds (runtime/optim/optimizers.cc).
const std::vector<std::string> kOptimizerKinds = {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lamb"};

// --schedule KIND[:key=value,...]: the kind in any case, the keys as given (they name
// ScheduleOptions' fields, T_max and t_max alike being for the library to judge).
std::string canonical_schedule(const std::string& flag, const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string kind = one_of(flag, spec.substr(0, colon), schedule_kinds());
  return colon == std::string::npos ? kind : kind + spec.substr(colon);
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      // What to minimise.
      {"--loss", "", "KIND",
       "cross-entropy (default), nll, mse, l1, huber, bce-with-logits, or none (the model outputs its own scalar "
       "loss, the output named by --output or the first scalar output)",
       [](TrainConfig& c, const std::string&, const std::string& v) {
         if (v != "none") c.training.loss.kind = parse_loss_kind(v);
         c.loss = v;
       },
       [](const std::string& f, const std::string& v) { return one_of(f, v, loss_kinds()); }},
      {"--output", "", "NAME", "the model output the loss reads (default: the first)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.loss.output = v; }},
      {"--label", "", "NAME", "the label's data: its file stem (NAME.npy), npz array or csv column (default: label)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.loss.label = v; }},
      {"--label-smoothing", "", "X", "cross-entropy label smoothing in [0, 1]",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.loss.label_smoothing = static_cast<float>(to_double(f, v));
       }},
      {"--class-axis", "", "AXIS",
       "class losses: the output axis holding the classes: 1 ([N, C, ...]), last ([N, ..., C], a language model's "
       "[batch, tokens, vocabulary] logits) or auto (default: last for a rank-3 output, else 1)",
       [](TrainConfig& c, const std::string&, const std::string& v) {
         if (v == "auto")
           c.training.loss.class_axis.reset();
         else if (v == "last" || v == "-1")
           c.training.loss.class_axis = -1;
         else  // "1" (the normaliser below admits nothing else)
           c.training.loss.class_axis = 1;
       },
       [](const std::string& f, const std::string& v) { return one_of(f, v, {"1", "last", "-1", "auto"}); }},
      {"--num-classes", "", "N",
       "transfer learning: replace the classifier layer feeding the output with a new one of N outputs",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.num_classes = parse_whole_number(f, v, 1);
       }},
      {"--keep-head", "", "",
       "train the model's classifier as it is when the data has fewer classes than its outputs (labels a subset)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.keep_head = true; }},
      {"--freeze", "", "REGEX", "do not train parameters whose name matches (repeatable)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.freeze.push_back(v); }},
      {"--train-only", "", "REGEX", "train only parameters whose name matches (repeatable)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.train_only.push_back(v); }},
      // Low-rank adapters (onnx_train/lora.h).
      {"--lora", "", "RANK",
       "train low-rank adapters of this rank on the MatMul/Gemm/1x1-Conv weights, the rest frozen (LoRA)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.training.lora.rank = parse_whole_number(f, v, 1); }},
      {"--lora-alpha", "", "A", "LoRA: the adapters' output is scaled by A / RANK (default A = RANK: scale 1)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.training.lora.alpha = positive(f, to_double(f, v)); }},
      {"--lora-dropout", "", "P", "LoRA: dropout on the adapters' input in training (default 0)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.training.lora.dropout = to_double(f, v); }},
      {"--lora-targets", "", "REGEX",
       "LoRA: adapt the weights whose name matches (default: every eligible weight but the head's)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.lora.targets = v; }},
      {"--lora-adapter", "", "FILE", "LoRA: start from the adapters in FILE (written by --lora-export separate)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.lora.adapter = v; }},
      {"--lora-export", "", "HOW",
       "LoRA: merged (default: the adapters merged into the weights) or separate (the base model as given, plus "
       "the adapters in OUT.lora.onnx)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.lora.export_separate = v == "separate"; },
       [](const std::string& f, const std::string& v) { return one_of(f, v, {"merged", "separate"}); }},
      // How to step.
      {"--optimizer", "", "KIND", "sgd, adam, adamw (default), adagrad, rmsprop or lamb, with torch.optim's defaults",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.optimizer.kind = v; },
       [](const std::string& f, const std::string& v) { return one_of(f, v, kOptimizerKinds); }},
      {"--lr", "", "X", "learning rate (default 0.001)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.learning_rate = positive(f, to_double(f, v));
       }},
      {"--momentum", "", "X", "sgd and rmsprop momentum",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.optimizer.momentum = to_double(f, v);
       }},
      {"--nesterov", "", "", "sgd: Nesterov momentum",
       [](TrainConfig& c, const std::string&, const std::string&) { c.training.optimizer.nesterov = true; }},
      {"--weight-decay", "", "X",
       "weight decay (adamw: decoupled, default 0.01; others: L2, default 0); biases and normalisation scales get "
       "none",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.optimizer.weight_decay = to_double(f, v);
       }},
      {"--betas", "", "B1,B2", "adam, adamw, lamb: moment decay rates (default 0.9,0.999)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         const auto b = to_floats(f, v);
         OT_CHECK(b.size() == 2, "{} takes two numbers B1,B2, got '{}'", f, v);
         c.training.optimizer.beta1 = b[0];
         c.training.optimizer.beta2 = b[1];
       }},
      {"--eps", "", "X", "the optimizer's epsilon",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.training.optimizer.eps = to_double(f, v); }},
      {"--schedule", "", "KIND",
       "learning-rate schedule: constant (default), step, multistep, exponential, cosine, cosine-restarts, linear, "
       "onecycle; options as KIND:key=value,... (e.g. step:step_size=1000,gamma=0.5); total steps are filled in, "
       "step decays by gamma=0.1 each epoch unless told otherwise",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.schedule = v; }, canonical_schedule},
      {"--warmup-steps", "", "N", "linear learning-rate warm-up over the first N optimizer steps",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.warmup_steps = parse_whole_number(f, v, 0);
       }},
      {"--clip-grad-norm", "", "X", "clip the global gradient norm to X",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.clip_grad_norm = positive(f, to_double(f, v));
       }},
      {"--clip-grad-value", "", "X", "clamp every gradient element to [-X, X]",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.clip_grad_value = positive(f, to_double(f, v));
       }},
      {"--accumulate", "", "N", "accumulate gradients over N batches per optimizer step",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.accumulation_steps = static_cast<int>(parse_whole_number(f, v, 1));
       }},
      {"--skip-nonfinite", "", "",
       "leave out a batch whose loss or gradients come out NaN or Inf (nothing is updated), counted and reported; "
       "100 in a row stop the run (default: the first stops it, naming the node)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.skip_nonfinite = true; }},
      {"--detect-anomaly", "", "",
       "check every node's outputs at every step, stopping at the first NaN or Inf with its node (slow: debugging)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.training.detect_anomaly = true; }},
      {"--precision", "", "P",
       "fp32 (default) or bf16: MatMul, Gemm and Conv (forward and backward) in bfloat16, with float32 weights, "
       "optimizer state, softmax, normalisation and loss (as PyTorch's CPU autocast); export stays float32",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         OT_CHECK(v == "fp32" || v == "bf16", "{} {}: expected fp32 or bf16", f, v);
         c.training.precision = v;
       }},
      {"--copy-transposed-weights", "", "",
       "run MatMul(x, Transpose(W)) as written, copying each weight into its transpose twice a step (default: "
       "the product reads W as stored; for comparisons)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.training.fuse_transposed_weights = false; }},
      // Data-parallel training (README "Training on several processes").
      {"--distributed", "", "",
       "train data-parallel across the processes mpirun started (found by itself under mpirun; this flag makes a "
       "run without mpirun an error)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.distributed = true; }},
      {"--bucket-mb", "", "MB",
       "data-parallel: gradients averaged in buckets of about MB megabytes, each sent as soon as the backward pass "
       "has computed it (default 25)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.bucket_mb = positive(f, to_double(f, v), /*allow_zero=*/false);
       }},
      {"--sync-batchnorm", "", "",
       "data-parallel: BatchNormalization statistics over every process's batch (default: each process's own)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.sync_batchnorm = true; }},
      {"--dist-timeout", "", "SECONDS",
       "data-parallel: how long a process waits for the others before it stops, naming those that did not come "
       "(default 600)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.dist_timeout = positive(f, to_double(f, v), /*allow_zero=*/false);
       }},
      // The data.
      {"--batch-size", "", "N", "samples per batch (default 32)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.batch_size = parse_whole_number(f, v, 1); }},
      {"--epochs", "", "N", "passes over the training data (default 1; --max-steps overrides it)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.epochs = parse_whole_number(f, v, 1); }},
      {"--max-steps", "", "N",
       "train N optimizer steps in all, over as many epochs as they take (overrides --epochs, as in Hugging "
       "Face's Trainer)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.max_steps = parse_whole_number(f, v, 1); }},
      {"--no-shuffle", "", "", "keep the data in file order",
       [](TrainConfig& c, const std::string&, const std::string&) { c.shuffle = false; }},
      {"--drop-last", "", "", "drop the last, smaller batch of each epoch",
       [](TrainConfig& c, const std::string&, const std::string&) { c.drop_last = true; }},
      {"--val-split", "", "F", "hold out this fraction of the training data for validation when there is no val/",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.val_split = to_double(f, v);
         OT_CHECK(c.val_split > 0 && c.val_split < 1, "{} takes a fraction between 0 and 1, got {}", f, v);
       }},
      {"--eval-every", "", "N", "also validate every N optimizer steps, not only at each epoch's end",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.eval_every = parse_whole_number(f, v, 1); }},
      {"--early-stopping", "", "PATIENCE",
       "stop the run (exported, exit 0) when --early-stopping-metric has not improved for PATIENCE validations",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.early_stopping = parse_whole_number(f, v, 1);
       }},
      {"--early-stopping-metric", "", "METRIC", "what --early-stopping watches: val_loss (default) or val_accuracy",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.early_stopping_metric = ValidationMetric::parse(f, v).name();
       }},
      {"--early-stopping-min-delta", "", "X",
       "an improvement smaller than X (a loss, or an accuracy as a fraction) counts as none (default 0)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.early_stopping_min_delta = positive(f, to_double(f, v));
       }},
      {"--input", "", "NAME=SOURCE",
       "the data of model input NAME: a file of each split (x.npy), an npz array, or csv columns A,B,... or * (the "
       "rest) (repeatable)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         const size_t eq = v.find('=');
         OT_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < v.size(),
                  "{} takes NAME=SOURCE (a model input and its file, array or columns: --input features=x.npy), got "
                  "'{}'",
                  f, v);
         const std::string name = v.substr(0, eq);
         OT_CHECK(c.inputs.count(name) == 0, "{} {}: the input '{}' is mapped twice ({} and {}); give it once", f, v,
                  name, c.inputs[name], v.substr(eq + 1));
         c.inputs[name] = v.substr(eq + 1);
       }},
      {"--columns", "", "A,B,...", "csv: the columns of the model's input, in order (default: all but the label)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.columns = to_names(f, v); }},
      {"--ignore-columns", "", "A,B,...", "csv: columns that feed nothing, such as an id or a name",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         for (std::string& name : to_names(f, v)) c.ignore_columns.push_back(std::move(name));
       }},
      {"--mean", "", "M[,M...]", "images: per-channel mean subtracted after scaling to [0, 1]",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.mean = to_floats(f, v); }},
      {"--std", "", "S[,S...]", "images: per-channel standard deviation divided by",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.std = to_floats(f, v); }},
      {"--image-size", "", "H,W",
       "images: resize to H x W (or N x N for one number), needed for a model with a dynamic height and width",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         const size_t comma = v.find(',');
         OT_CHECK(v.find(',', comma == std::string::npos ? comma : comma + 1) == std::string::npos,
                  "{} takes H,W (height and width, e.g. 224,224) or one number N for N x N, got '{}'", f, v);
         c.image_height = parse_whole_number(f, v.substr(0, comma), 1);
         c.image_width = comma == std::string::npos ? c.image_height : parse_whole_number(f, v.substr(comma + 1), 1);
       }},
      {"--augment", "", "LIST",
       "images: random changes to the training images each epoch, from hflip, crop[=MIN_SCALE] (default 0.08), "
       "rotate[=DEGREES] (default 10)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         try {
           c.augment = parse_image_augmentation(v);
         } catch (const Error& e) {
           throw Error(fmt::format("{}: {}", f, e.what()), e.category());
         }
       }},
      {"--workers", "", "N",
       "threads decoding and augmenting the samples of each batch (default: min(4, cores) for image folders, else 1)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.workers = static_cast<int>(parse_whole_number(f, v, 1));
       }},
      {"--skip-bad-samples", "", "",
       "leave out samples that cannot be read or hold NaN, Inf or a bad label, listed at the end (default: the "
       "first stops the run)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.skip_bad_samples = true; }},
      {"--seed", "", "N", "seeds shuffling, Dropout masks and new layers (default 0)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.seed = static_cast<uint64_t>(parse_whole_number(f, v, 0));
       }},
      {"--threads", "", "N",
       "threads for the kernels (default: every core; under mpirun, per process: the cores shared among the "
       "processes on each machine)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.threads = static_cast<int>(parse_whole_number(f, v, 1));
       }},
      // Activation recomputation (README "Training options").
      {"--recompute", "", "",
       "keep one checkpoint of the activations per transformer block (sqrt(n) segments of other chains) and "
       "compute the rest again in the backward pass: less memory, about one more forward pass of time",
       [](TrainConfig& c, const std::string&, const std::string&) { c.training.recompute = true; }},
      {"--max-activation-memory", "", "SIZE",
       "recompute activations (implies --recompute) so that those kept for the backward pass fit in SIZE (512M, "
       "2G) at --batch-size; an error when they cannot",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.max_activation_memory = parse_byte_size(v, f);
         OT_CHECK(c.training.max_activation_memory > 0, "{} takes a size above 0, got '{}'", f, v);
       }},
      // Process-wide, and not kept in checkpoints: a limit belongs to the machine a run is on.
      {kMaxMemoryFlag, "", "SIZE", kMaxMemoryHelp,
       [](TrainConfig&, const std::string&, const std::string& v) { set_max_memory(v); }},
      // Checkpoints and outputs.
      {"--checkpoint-dir", "", "DIR", "write checkpoints here (each epoch, and every --checkpoint-every steps)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.checkpoint_dir = v; }},
      {"--checkpoint-every", "", "N", "also checkpoint every N optimizer steps",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.checkpoint_every = parse_whole_number(f, v, 1);
       }},
      {"--keep-checkpoints", "", "K", "keep the newest K checkpoints (default 3)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.keep_checkpoints = parse_whole_number(f, v, 1);
       }},
      {"--save-best", "", "METRIC",
       "keep the best model too: val_loss or val_accuracy; written to MODEL.best.onnx (and DIR/best.ckpt with "
       "--checkpoint-dir) whenever it improves",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.save_best = ValidationMetric::parse(f, v).name();
       }},
      {"--save-best-path", "", "PATH",
       "where --save-best writes the best model (default: the export's name with .best)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.save_best_path = v; }},
      {"--resume", "", "[CHECKPOINT]",
       "continue from CHECKPOINT, or from the newest one in --checkpoint-dir (as --resume=PATH or --resume PATH.ckpt)",
       nullptr},
      {"--export", "-o", "PATH", "where to write the trained model (default: MODEL.trained.onnx in the current folder)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.export_path = v; }},
      {"--export-training", "", "PATH", "also write the model with its training algorithm (ONNX TrainingInfoProto)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.export_training_path = v; }},
      {kExternalDataFlag, "", "MODE", kExternalDataHelp,
       [](TrainConfig& c, const std::string&, const std::string& v) {
         c.training.external_data = parse_external_data(v);
       }},
      {"--log", "", "FILE", "JSON Lines: one object per optimizer step and per validation",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.log_path = v; }},
      {"--plot", "", "FILE.svg", "a loss and accuracy chart, rewritten each epoch",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.plot_path = v; }},
      {"--tensorboard", "", "DIR", "TensorBoard event files of the loss, learning rate and validation, in DIR",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.tensorboard_dir = v; }},
      {"--plot-log-scale", "", "", "draw the --plot chart's loss axis on a logarithmic scale",
       [](TrainConfig& c, const std::string&, const std::string&) { c.plot_log_scale = true; }},
      {"--quiet", "", "", "print only errors, warnings and the final summary",
       [](TrainConfig& c, const std::string&, const std::string&) { c.quiet = true; }},
  };
  return table;
}

// The options as the library names them in an OptionError (TrainingOptions' fields), and
// the flag that sets each: an error about "num_classes" is printed as one about --num-classes.
const std::map<std::string, std::string>& flags_of_options() {
  static const std::map<std::string, std::string> table = {
      {"loss.output", "--output"},
      {"model_loss", "--output"},
      {"loss.label", "--label"},
      {"loss.label_smoothing", "--label-smoothing"},
      {"loss.class_axis", "--class-axis"},
      {"num_classes", "--num-classes"},
      {"freeze", "--freeze"},
      {"train_only", "--train-only"},
      {"lora", "--lora"},
      {"lora_alpha", "--lora-alpha"},
      {"lora_dropout", "--lora-dropout"},
      {"lora_targets", "--lora-targets"},
      {"lora_export", "--lora-export"},
      {"optimizer.kind", "--optimizer"},
      {"learning_rate", "--lr"},
      {"optimizer.momentum", "--momentum"},
      {"optimizer.nesterov", "--nesterov"},
      {"optimizer.weight_decay", "--weight-decay"},
      {"optimizer.eps", "--eps"},
      {"schedule", "--schedule"},
      {"clip_grad_norm", "--clip-grad-norm"},
      {"clip_grad_value", "--clip-grad-value"},
      {"accumulation_steps", "--accumulate"},
      {"seed", "--seed"},
      {"precision", "--precision"},
  };
  return table;
}

const Flag* find_flag(const std::string& name) {
  for (const Flag& f : flags()) {
    if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
  }
  return nullptr;
}

// The optimal-string-alignment distance (Levenshtein's, with a swap of two neighbouring letters
// counting one edit: "sdg" is one edit from "sgd"), for suggesting what a mistyped name meant.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// Names other tools give what onnx-train calls otherwise (without dashes): the first is ours.
const std::vector<std::vector<std::string>>& other_spellings() {
  static const std::vector<std::vector<std::string>> table = {
      {"o", "out", "output", "output-file", "outfile", "output-path"},
      {"lr", "learning-rate", "learning_rate", "learningrate"},
      {"batch-size", "bs", "batch_size", "batchsize"},
      {"epochs", "num-epochs", "num_epochs", "n-epochs", "max-epochs"},
      {"export", "save", "save-model"},
  };
  return table;
}

// `text` with each run of a repeated letter kept once: "adamm" -> "adam". A key pressed twice is
// the commonest slip, so a name equal to the typed one but for that is the likeliest meant.
std::string without_repeats(const std::string& text) {
  std::string out;
  for (char ch : text)
    if (out.empty() || out.back() != ch) out += ch;
  return out;
}

// The names of `known` that `typed` was probably meant as (see did_you_mean), in `known`'s order;
// of those within a few edits, only the nearest ("adam" for "adamm", not also "adamw").
std::vector<std::string> names_like(const std::string& typed_name, const std::vector<std::string>& known) {
  const auto bare = [](const std::string& s) {
    const size_t first = s.find_first_not_of('-');
    return first == std::string::npos ? std::string() : lower_case(s.substr(first));
  };
  const std::string typed = bare(typed_name);
  std::vector<std::string> near, starting;
  if (typed.empty()) return near;
  // A word of `longer` ends where `shorter` does: "batch" in "batch-size", not "o" in "optimizer".
  const auto begins_as_word = [](const std::string& longer, const std::string& shorter) {
    return shorter.size() >= 3 && longer.size() > shorter.size() && longer.rfind(shorter, 0) == 0 &&
           (longer[shorter.size()] == '-' || longer[shorter.size()] == '_');
  };
  // How near each near name is: (edits once repeated letters are dropped, edits); 0 for an
  // other spelling or a word the typed name begins with.
  std::vector<std::pair<size_t, size_t>> nearness;
  for (const std::string& name : known) {
    const std::string b = bare(name);
    // A name may be in `known` twice (a command's -o and the training options' -o).
    if (std::count(near.begin(), near.end(), name) + std::count(starting.begin(), starting.end(), name) > 0) continue;
    const bool other_spelling = std::any_of(other_spellings().begin(), other_spellings().end(), [&](const auto& row) {
      return row.front() == b && std::find(row.begin() + 1, row.end(), typed) != row.end();
    });
    const size_t edits = edit_distance(typed, b);
    if (other_spelling || begins_as_word(typed, b)) {
      near.push_back(name);
      nearness.emplace_back(0, 0);
    } else if (edits <= std::min<size_t>(2, b.size() / 3)) {
      near.push_back(name);
      nearness.emplace_back(edit_distance(without_repeats(typed), without_repeats(b)), edits);
    } else if (b.rfind(typed, 0) == 0) {
      starting.push_back(name);
    }
  }
  if (near.empty()) return starting;
  const auto best = *std::min_element(nearness.begin(), nearness.end());
  std::vector<std::string> nearest;
  for (size_t i = 0; i < near.size(); ++i)
    if (nearness[i] == best) nearest.push_back(near[i]);
  return nearest;
}

}  // namespace

std::string did_you_mean(const std::string& typed, const std::vector<std::string>& known) {
  const std::vector<std::string> like = names_like(typed, known);
  if (like.empty() || like.size() > 3) return "";
  return fmt::format(" (did you mean {}?)", fmt::join(like, " or "));
}

bool is_train_flag(const std::string& name) { return find_flag(name) != nullptr; }

std::vector<std::string> train_flag_names() {
  std::vector<std::string> names;
  for (const Flag& f : flags()) {
    names.push_back(f.name);
    if (!f.alias.empty()) names.push_back(f.alias);
  }
  return names;
}

std::string option_help_line(const std::string& names, const std::string& help) {
  // The help starts at column 30 (on the next line after long names) and wraps at word breaks
  // to stay within 100 columns, each continuation indented to the same column.
  constexpr size_t kIndent = 30, kWidth = 100;
  std::string out = "  " + names;
  if (out.size() < kIndent)
    out.resize(kIndent, ' ');
  else
    out += "\n" + std::string(kIndent, ' ');
  size_t column = kIndent;
  for (size_t begin = 0; begin < help.size();) {
    size_t end = help.find(' ', begin);
    if (end == std::string::npos) end = help.size();
    const std::string word = help.substr(begin, end - begin);
    if (column > kIndent && column + 1 + word.size() > kWidth) {
      out += "\n" + std::string(kIndent, ' ');
      column = kIndent;
    } else if (column > kIndent) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    begin = end + 1;
  }
  return out + "\n";
}

int64_t parse_whole_number(const std::string& flag, const std::string& text, int64_t min) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0 && v >= min, "{} takes a whole number of at least {}, got '{}'",
           flag, min, text);
  return v;
}

ExternalDataMode parse_external_data(const std::string& value) {
  const std::string mode = one_of(kExternalDataFlag, value, {"auto", "always", "never"});
  return mode == "always" ? ExternalDataMode::Always : mode == "never" ? ExternalDataMode::Never : ExternalDataMode::Auto;
}

void set_max_memory(const std::string& value) { set_memory_limit(parse_byte_size(value, kMaxMemoryFlag)); }

TrainConfig parse_train_args(const std::vector<std::string>& args, bool need_data, const std::string& command) {
  // Where a user finds the options: the command's own help, or the usage text's.
  const bool own_help = !command.empty() && command != "train" && find_command(command) != nullptr;
  const std::string help = own_help ? "onnx-train " + command + " --help" : "onnx-train --help";
  TrainConfig c;
  std::vector<std::string> positional;
  std::string after_bare_resume;  // the argument right after a --resume that took no value
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    bool has_inline_value = false;
    if (name.rfind("--", 0) == 0 && name.find('=') != std::string::npos) {
      value = name.substr(name.find('=') + 1);
      name = name.substr(0, name.find('='));
      has_inline_value = true;
    }
    if (name.empty() || name[0] != '-' || name == "-") {
      positional.push_back(args[i]);
      c.args.push_back(args[i]);
      continue;
    }
    if (name == "--resume") {
      // The value is optional: taken when written --resume=PATH or when the next argument
      // names an existing file (not the model or the data folder).
      if (!has_inline_value && i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0 &&
          std::filesystem::is_regular_file(args[i + 1]) && args[i + 1].size() > 5 &&
          args[i + 1].compare(args[i + 1].size() - 5, 5, ".ckpt") == 0)
        value = args[++i];
      c.resume = value;
      if (value.empty() && !has_inline_value && i + 1 < args.size()) after_bare_resume = args[i + 1];
      continue;
    }
    const Flag* flag = find_flag(name);
    if (flag == nullptr) {
      const std::vector<std::string> known = option_names_of(own_help ? command : "train");
      OT_FAIL("{}unknown option '{}'{}; see {}", own_help ? command + ": " : "", name, did_you_mean(name, known), help);
    }
    if (flag->metavar.empty()) {
      OT_CHECK(!has_inline_value, "{} takes no value", name);
    } else if (!has_inline_value) {
      OT_CHECK(i + 1 < args.size(), "{} needs a value ({})", name, flag->metavar);
      value = args[++i];
    }
    if (flag->canonical) value = flag->canonical(flag->name, value);
    flag->set(c, flag->name, value);
    if (flag->name == kMaxMemoryFlag) continue;  // the machine's, not the run's: not kept in checkpoints
    c.args.push_back(flag->name);
    if (!flag->metavar.empty()) c.args.push_back(value);
  }
  const size_t wanted = need_data ? 2 : 1;
  // `--resume ck/` (the checkpoint folder) reads as a third positional argument: say how a
  // folder is given instead of only counting the arguments.
  OT_CHECK(positional.size() <= wanted || after_bare_resume.empty() ||
               !std::filesystem::is_directory(after_bare_resume),
           "--resume takes a checkpoint file (--resume=PATH, or --resume PATH.ckpt), not the folder '{}'; to continue "
           "from the newest checkpoint in a folder, pass it as --checkpoint-dir {} --resume",
           after_bare_resume, after_bare_resume);
  OT_CHECK(positional.size() == wanted, "expected {}, got {}; see {}",
           need_data ? "MODEL.onnx and DATA_DIR" : "MODEL.onnx",
           positional.empty() ? std::string("nothing") : fmt::format("'{}'", fmt::join(positional, " ")), help);
  c.model = positional[0];
  if (need_data) c.data = positional[1];
  return c;
}

std::string option_error_message(const OptionError& error) {
  const auto it = flags_of_options().find(error.option());
  if (it == flags_of_options().end()) return error.what();
  return (error.context().empty() ? "" : error.context() + ": ") + it->second + ": " + error.detail();
}

std::vector<std::string> take_command_flags(const std::vector<std::string>& args, const std::vector<CommandFlag>& flags,
                                            const std::string& command) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const size_t eq = args[i].rfind("--", 0) == 0 ? args[i].find('=') : std::string::npos;
    const std::string name = args[i].substr(0, eq);
    const auto flag = std::find_if(flags.begin(), flags.end(), [&](const CommandFlag& f) {
      return std::find(f.names.begin(), f.names.end(), name) != f.names.end();
    });
    if (flag == flags.end()) {
      rest.push_back(args[i]);
    } else if (flag->metavar.empty()) {
      OT_CHECK(eq == std::string::npos, "{}: {} takes no value", command, name);
      flag->take("");
    } else if (eq != std::string::npos) {
      flag->take(args[i].substr(eq + 1));
    } else {
      OT_CHECK(i + 1 < args.size(), "{}: {} needs a value ({})", command, name, flag->metavar);
      flag->take(args[++i]);
    }
  }
  return rest;
}

std::string the_one_argument(const std::vector<std::string>& rest, const std::string& missing) {
  for (size_t i = 0; i < rest.size(); ++i) {
    OT_CHECK(i == 0 && rest[i].rfind("-", 0) != 0, "unexpected argument '{}'; see onnx-train --help", rest[i]);
  }
  OT_CHECK(!rest.empty(), "{}", missing);
  return rest[0];
}

bool train_flag_takes_value(const std::string& name) {
  const Flag* flag = name.rfind("-", 0) == 0 ? find_flag(name) : nullptr;
  return flag != nullptr && !flag->metavar.empty();
}

std::string train_options_help(const std::set<std::string>& only) {
  std::string out;
  for (const Flag& f : flags())
    if (only.empty() || only.count(f.name) != 0)
      out += option_help_line(
          (f.alias.empty() ? "" : f.alias + ", ") + f.name + (f.metavar.empty() ? "" : " " + f.metavar), f.help);
  return out;
}

}  // namespace onnx_train::cli
