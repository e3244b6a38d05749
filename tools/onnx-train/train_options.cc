#include "tools/onnx-train/train_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <vector>

#include "onnx_train/error.h"

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

double positive(const std::string& flag, double v, bool allow_zero = true) {
  OT_CHECK(v > 0 || (allow_zero && v == 0), "{} must be {}, got {}", flag, allow_zero ? "0 or more" : "positive", v);
  return v;
}

using Setter = std::function<void(TrainConfig&, const std::string& flag, const std::string& value)>;

struct Flag {
  std::string name;     // "--lr"
  std::string alias;    // "-o", or ""
  std::string metavar;  // "" for a switch
  std::string help;
  Setter set;
};

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      // What to minimise.
      {"--loss", "", "KIND",
       "cross-entropy (default), nll, mse, l1, huber, bce-with-logits, or none (the model outputs its own scalar "
       "loss, the output named by --output or the first scalar output)",
       [](TrainConfig& c, const std::string&, const std::string& v) {
         if (v != "none") c.training.loss.kind = parse_loss_kind(v);
         c.loss = v;
       }},
      {"--output", "", "NAME", "the model output the loss reads (default: the first)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.loss.output = v; }},
      {"--label", "", "NAME", "the name of the labels in the data (default: label)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.loss.label = v; }},
      {"--label-smoothing", "", "X", "cross-entropy label smoothing in [0, 1]",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.loss.label_smoothing = static_cast<float>(to_double(f, v));
       }},
      {"--num-classes", "", "N",
       "transfer learning: replace the classifier layer feeding the output with a new one of N outputs",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.num_classes = parse_whole_number(f, v, 1);
       }},
      {"--freeze", "", "REGEX", "do not train parameters whose name matches (repeatable)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.freeze.push_back(v); }},
      {"--train-only", "", "REGEX", "train only parameters whose name matches (repeatable)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.train_only.push_back(v); }},
      // How to step.
      {"--optimizer", "", "KIND", "sgd, adam, adamw (default), adagrad, rmsprop or lamb, with torch.optim's defaults",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.training.optimizer.kind = v; }},
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
       [](TrainConfig& c, const std::string&, const std::string& v) { c.schedule = v; }},
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
      // The data.
      {"--batch-size", "", "N", "samples per batch (default 32)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.batch_size = parse_whole_number(f, v, 1); }},
      {"--epochs", "", "N", "passes over the training data (default 1)",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.epochs = parse_whole_number(f, v, 1); }},
      {"--max-steps", "", "N", "stop after N optimizer steps",
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
      {"--mean", "", "M[,M...]", "images: per-channel mean subtracted after scaling to [0, 1]",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.mean = to_floats(f, v); }},
      {"--std", "", "S[,S...]", "images: per-channel standard deviation divided by",
       [](TrainConfig& c, const std::string& f, const std::string& v) { c.std = to_floats(f, v); }},
      {"--skip-bad-samples", "", "",
       "leave out samples that cannot be read or hold NaN, Inf or a bad label, listed at the end (default: the "
       "first stops the run)",
       [](TrainConfig& c, const std::string&, const std::string&) { c.skip_bad_samples = true; }},
      {"--seed", "", "N", "seeds shuffling, Dropout masks and new layers (default 0)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.training.seed = static_cast<uint64_t>(parse_whole_number(f, v, 0));
       }},
      {"--threads", "", "N", "threads for the kernels (default: every core)",
       [](TrainConfig& c, const std::string& f, const std::string& v) {
         c.threads = static_cast<int>(parse_whole_number(f, v, 1));
       }},
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
      {"--resume", "", "[CHECKPOINT]",
       "continue from CHECKPOINT, or from the newest one in --checkpoint-dir (as --resume=PATH or --resume PATH.ckpt)",
       nullptr},
      {"--export", "-o", "PATH", "where to write the trained model (default: MODEL.trained.onnx in the current folder)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.export_path = v; }},
      {"--export-training", "", "PATH", "also write the model with its training algorithm (ONNX TrainingInfoProto)",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.export_training_path = v; }},
      {"--log", "", "FILE", "JSON Lines: one object per optimizer step and per validation",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.log_path = v; }},
      {"--plot", "", "FILE.svg", "a loss and accuracy chart, rewritten each epoch",
       [](TrainConfig& c, const std::string&, const std::string& v) { c.plot_path = v; }},
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
      {"num_classes", "--num-classes"},
      {"freeze", "--freeze"},
      {"train_only", "--train-only"},
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
  };
  return table;
}

const Flag* find_flag(const std::string& name) {
  for (const Flag& f : flags()) {
    if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
  }
  return nullptr;
}

// Levenshtein distance, for suggesting the option a mistyped one meant.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The options an unknown one was probably meant as: those within two edits ("--epoch",
// "--learning-rate" is not), or those it begins ("-q" for --quiet, "--check" for
// --checkpoint-dir and --checkpoint-every). Empty when nothing is close.
std::vector<std::string> options_like(const std::string& unknown) {
  const auto bare = [](const std::string& s) { return s.substr(s.find_first_not_of('-')); };
  const std::string typed = bare(unknown);
  std::vector<std::string> near, starting;
  if (typed.empty()) return near;
  std::vector<std::string> names = {"--resume"};
  for (const Flag& f : flags()) names.push_back(f.name);
  for (const std::string& name : names) {
    const std::string b = bare(name);
    if (edit_distance(typed, b) <= std::min<size_t>(2, b.size() / 3)) near.push_back(name);
    else if (b.rfind(typed, 0) == 0) starting.push_back(name);
  }
  return near.empty() ? starting : near;
}

}  // namespace

int64_t parse_whole_number(const std::string& flag, const std::string& text, int64_t min) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0 && v >= min, "{} takes a whole number of at least {}, got '{}'",
           flag, min, text);
  return v;
}

TrainConfig parse_train_args(const std::vector<std::string>& args, bool need_data) {
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
      const std::vector<std::string> like = options_like(name);
      OT_FAIL("unknown option '{}'{}; see onnx-train --help", name,
              like.empty() || like.size() > 3 ? std::string()
                                              : fmt::format(" (did you mean {}?)", fmt::join(like, " or ")));
    }
    if (flag->metavar.empty()) {
      OT_CHECK(!has_inline_value, "{} takes no value", name);
    } else if (!has_inline_value) {
      OT_CHECK(i + 1 < args.size(), "{} needs a value ({})", name, flag->metavar);
      value = args[++i];
    }
    flag->set(c, flag->name, value);
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
  OT_CHECK(positional.size() == wanted, "expected {}, got {}; see onnx-train --help",
           need_data ? "MODEL.onnx and DATA_DIR" : "MODEL.onnx",
           positional.empty() ? std::string("nothing") : fmt::format("'{}'", fmt::join(positional, " ")));
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

std::string train_options_help() {
  std::string out;
  for (const Flag& f : flags()) {
    std::string head =
        "  " + (f.alias.empty() ? "" : f.alias + ", ") + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    if (head.size() < 30)
      head.resize(30, ' ');
    else
      head += "\n" + std::string(30, ' ');
    out += head + f.help + "\n";
  }
  return out;
}

}  // namespace onnx_train::cli
