// tests/cli/cli_harness.h: running the real onnx-train binary from a test, for every CLI test
// (cli_e2e_test.cc, data_cli_test.cc, hostile_inputs_cli_test.cc, kill_resume_test.cc, old_opset_cli_test.cc,
// resume_test.cc, run_folder_test.cc): a temporary work folder, small models (an MLP, a linear
// classifier) and separable .npy data written there, runs with their exit code and output, the
// process controls those tests need (a signal at a chosen moment, a file-size or address-space
// limit, a terminal and what it shows, variables added to the environment of every run, the peak
// memory of a run),
// and the comparison of an exported model's outputs with ONNX Runtime's.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"
#include "tests/support/sanitized.h"

#ifndef ONNX_TRAIN_CLI
#error "ONNX_TRAIN_CLI (the path of the onnx-train binary) is set by tests/CMakeLists.txt"
#endif

extern char** environ;

namespace onnx_train::cli_test {

namespace fs = std::filesystem;
using testing::read_file;
using testing::write_file;

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Every path under `dir`, relative, sorted: to show that a failed run left nothing behind.
inline std::set<std::string> tree(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.insert(fs::relative(it->path(), dir).string());
  return out;
}

inline std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(nothing)" : out;
}

inline int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The number written after `key` in `text` ("val accuracy 93.75" -> 93.75); NaN when `key` is not there.
inline double number_after(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return NAN;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

// The metadata_props of the ONNX model file `model`, by key (the classes, preprocessing and
// training summary an export carries).
inline std::map<std::string, std::string> metadata_of(const std::string& model) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(read_file(model))) << model;
  std::map<std::string, std::string> out;
  for (const auto& p : proto.metadata_props()) out[p.key()] = p.value();
  return out;
}

// DIR/<colour>/img<i>.png, 8 x 8 pictures in which the colour's channel is bright and the
// others dark: red, green and blue are told apart by a linear model. `folder` renames it.
inline void write_colour(const std::string& dir, const std::string& colour, int count, unsigned seed,
                         const std::string& folder = "") {
  const int channel = colour == "red" ? 0 : colour == "green" ? 1 : 2;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> bright(180, 255), dark(0, 60);
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> rgb(8 * 8 * 3);
    for (size_t p = 0; p < rgb.size(); ++p)
      rgb[p] = static_cast<uint8_t>(static_cast<int>(p % 3) == channel ? bright(rng) : dark(rng));
    testing::write_png_file(dir + "/" + (folder.empty() ? colour : folder) + "/img" + std::to_string(i) + ".png", 8,
                            8, 3, rgb);
  }
}

inline std::vector<std::string> plus(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// ---- Running the binary

struct CliRun {
  int code = -1;  // exit status; 1000 + N when signal N killed it
  std::string out, err, command;
  std::string show() const {
    return "$ " + command + "\nexit " + std::to_string(code) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

inline std::string quote_args(const std::vector<std::string>& args) {
  std::string out = "onnx-train";
  for (const auto& a : args) out += " " + (a.find(' ') == std::string::npos && !a.empty() ? a : "'" + a + "'");
  return out;
}

struct SpawnOptions {
  std::string binary;            // not empty: run this build of onnx-train instead of ONNX_TRAIN_CLI
  long max_file_bytes = 0;       // > 0: RLIMIT_FSIZE, so a write past it fails as on a full disk
  long max_address_space = 0;    // > 0: RLIMIT_AS, so an allocation past it fails (std::bad_alloc);
                                 // under ASan its allocation limits instead (tests/support/sanitized.h)
  int terminal_fd = -1;          // >= 0: stdout and stderr go to this (a pty's slave side)
  std::vector<std::string> env;  // added to the environment ("TERM=xterm")
  std::string cwd;               // not empty: run there instead of the work folder
};

// Starts the binary with `args` in `cwd`, stdout and stderr into files ("/dev/null" to
// discard one) or the terminal, no stdin, and one kernel thread (tiny models train fastest so, and the numbers do not
// depend on it).
inline pid_t spawn(const std::vector<std::string>& args, const std::string& cwd, const std::string& out_path,
                   const std::string& err_path, const SpawnOptions& options = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 && std::strncmp(*e, "COLUMNS=", 8) != 0 &&
        std::strncmp(*e, "SOURCE_DATE_EPOCH=", 18) != 0)
      env.emplace_back(*e);
  }
  env.emplace_back("OMP_NUM_THREADS=1");
  // A fixed training.date in exported models (tools/onnx-train/model_metadata.h): the tests
  // compare the models of runs made at different times byte for byte. A test may set another.
  const bool date_given = std::any_of(options.env.begin(), options.env.end(), [](const std::string& e) {
    return e.rfind("SOURCE_DATE_EPOCH=", 0) == 0;
  });
  if (!date_given) env.emplace_back("SOURCE_DATE_EPOCH=1700000000");
  env.insert(env.end(), options.env.begin(), options.env.end());
  if (testing::kSanitized && options.max_address_space > 0) {
    // ASan cannot start under RLIMIT_AS: the same bound as ASan options, added to the run's own.
    const std::string limit = testing::asan_limit_options(options.max_address_space);
    auto asan =
        std::find_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("ASAN_OPTIONS=", 0) == 0; });
    if (asan == env.end())
      env.push_back("ASAN_OPTIONS=" + limit);
    else
      *asan += (asan->size() > 13 ? ":" : "") + limit;
  }
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> all = {options.binary.empty() ? std::string(ONNX_TRAIN_CLI) : options.binary};
  all.insert(all.end(), args.begin(), args.end());
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls from here
    if (chdir(cwd.c_str()) != 0) _exit(126);
    if (options.max_address_space > 0 && !testing::kSanitized) {
      const auto bytes = static_cast<rlim_t>(options.max_address_space);
      const rlimit limit{bytes, bytes};
      if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(126);
    }
    const int in = open("/dev/null", O_RDONLY);
    int out = options.terminal_fd, err = options.terminal_fd;
    if (out < 0) {
      out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (options.terminal_fd >= 0) setsid();
    if (options.max_file_bytes > 0) {
      const rlimit limit{static_cast<rlim_t>(options.max_file_bytes), static_cast<rlim_t>(options.max_file_bytes)};
      setrlimit(RLIMIT_FSIZE, &limit);
      signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG, as ENOSPC does
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

// The exit status of `pid` (1000 + N when signal N killed it); kills it and fails after `timeout_s`.
// With `max_resident_kb`, also the run's peak resident memory (wait4's ru_maxrss, in KB).
inline int wait_for(pid_t pid, double timeout_s, long* max_resident_kb = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "onnx-train did not finish in " << timeout_s << " s; killed";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (max_resident_kb != nullptr) *max_resident_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  return -1;
}

// Waits until `done()` holds (true) or `timeout_s` passes (false).
template <typename F>
bool wait_until(F done, double timeout_s = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// ---- Models and data

using testing::make_mlp;
using testing::random_tensor;

// `n` samples of `classes` (at most 5) well-separated clusters in 4 dimensions; with `nan_at` >= 0,
// that sample's x is NaN, and no noise is drawn for it.
struct Samples {
  int n = 0;
  std::vector<float> x;    // [n, 4]
  std::vector<int64_t> y;  // [n]
};

inline Samples separable(int n, unsigned seed, int classes = 3, int nan_at = -1) {
  static const float centers[5][4] = {{2, 0, 0, 1}, {-2, 1, 0, -1}, {0, -2, 2, 0}, {0, 2, -2, 0}, {1, 1, 1, -2}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.3f);
  Samples s;
  s.n = n;
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % static_cast<unsigned>(classes));
    for (int j = 0; j < 4; ++j) s.x.push_back(i == nan_at ? NAN : centers[c][j] + noise(rng));
    s.y.push_back(c);
  }
  return s;
}

// An .npy file as numpy.save writes it.
inline std::string npy(const std::string& descr, const Shape& shape, const std::string& data) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\0';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

inline std::string x_npy(const Samples& s) { return npy("<f4", {s.n, 4}, bytes_of(s.x)); }
inline std::string y_npy(const Samples& s) { return npy("<i8", {s.n}, bytes_of(s.y)); }

// DIR/x.npy and DIR/label.npy.
inline void write_npy_pair(const std::string& dir, const Samples& s) {
  write_file(dir + "/x.npy", x_npy(s));
  write_file(dir + "/label.npy", y_npy(s));
}

// DATA/train/{x,label}.npy and, with val > 0 samples, DATA/val/{x,label}.npy (drawn with
// seed + 100, of `classes` clusters).
inline void write_npy_data(const std::string& data, const Samples& train, int val = 0, unsigned seed = 1,
                           int classes = 3) {
  write_npy_pair(data + "/train", train);
  if (val > 0) write_npy_pair(data + "/val", separable(val, seed + 100, classes));
}

// x [N, in...] -> Flatten -> Gemm(classes) -> logits, its weights drawn from std::mt19937(11); N =
// `batch`, or open when -1. For image class folders (in = {3, H, W}) and flat features alike.
inline std::string make_linear(const std::string& path, const std::vector<int64_t>& input, int64_t classes,
                               int64_t batch = -1) {
  std::mt19937 rng(11);
  int64_t features = 1;
  for (int64_t d : input) features *= d;
  testing::ModelBuilder m(13);
  std::vector<int64_t> dims = {batch};
  dims.insert(dims.end(), input.begin(), input.end());
  m.input("x", onnx::TensorProto::FLOAT, dims);
  m.initializer("fc.weight", random_tensor({classes, features}, rng, 0.05f));
  m.initializer("fc.bias", random_tensor({classes}, rng, 0.05f));
  m.node("Flatten", {"x"}, {"flat"});
  m.node("Gemm", {"flat", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {batch, classes});
  fs::create_directories(fs::path(path).parent_path());
  m.save(path);
  return path;
}

// ---- ONNX Runtime (tests/cli/ort_compare.js under Node.js, with onnxruntime-node)

inline const std::string kOrtScript = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/cli/ort_compare.js";
inline const char* const kOrtInstall =
    "ONNX Runtime is needed for this test: install Node.js (apt-get install nodejs npm) and the module with "
    "`cd tests/cli && npm install --ignore-scripts --no-save --no-package-lock onnxruntime-node@1.31.1` "
    "(tools/test.sh does both), or put onnxruntime-node on NODE_PATH";

// The `node` on PATH ("" when there is none).
inline std::string find_node() {
  const char* path_env = std::getenv("PATH");
  std::istringstream dirs(path_env ? path_env : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Output and exit status of a shell command.
inline std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `model` on the float32 `input` in ONNX Runtime (`node` ort_compare.js) and compares its
// first output with `expected`, onnx-train's, to `atol`; both tensors are written as raw float32
// into `dir`. ort_compare.js's exit status (0: they agree) and output ("max abs diff ...").
inline std::pair<int, std::string> compare_in_ort(const std::string& node, const std::string& model,
                                                  const Tensor& input, const Tensor& expected, const std::string& atol,
                                                  const std::string& dir) {
  const std::string in_path = dir + "/input.bin", expected_path = dir + "/expected.bin";
  write_file(in_path, std::string(static_cast<const char*>(input.raw_data()), input.numel() * sizeof(float)));
  write_file(expected_path,
             std::string(static_cast<const char*>(expected.raw_data()), expected.numel() * sizeof(float)));
  std::string shape;
  for (int64_t d : input.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  return shell(sh_quote(node) + " " + sh_quote(kOrtScript) + " " + sh_quote(model) + " " + sh_quote(in_path) + " " +
               shape + " " + sh_quote(expected_path) + " " + atol);
}

// ---- The fixture

class CliTest : public ::testing::Test {
 public:
  void SetUp() override {
    root_ = tmp_.path();
    work_ = root_ + "/work";
    fs::create_directories(work_);
    fs::create_directories(root_ + "/.runs");
  }

  // Starts onnx-train with `args` in the work folder; its output goes to out_of(pid), err_of(pid).
  // env_ is added to the environment of every run.
  pid_t start(const std::vector<std::string>& args, SpawnOptions options = {}) {
    const std::string stem = root_ + "/.runs/" + std::to_string(runs_++);
    options.env.insert(options.env.begin(), env_.begin(), env_.end());
    const pid_t pid = spawn(args, options.cwd.empty() ? work_ : options.cwd, stem + ".out", stem + ".err", options);
    stems_[pid] = stem;
    commands_[pid] = quote_args(args);
    return pid;
  }
  std::string out_of(pid_t pid) { return read_file(stems_[pid] + ".out"); }
  std::string err_of(pid_t pid) { return read_file(stems_[pid] + ".err"); }
  CliRun finish(pid_t pid, double timeout_s = 120) {
    CliRun r;
    r.command = commands_[pid];
    r.code = wait_for(pid, timeout_s);
    r.out = out_of(pid);
    r.err = err_of(pid);
    return r;
  }

  CliRun run(const std::vector<std::string>& args, const SpawnOptions& options = {}) {
    return finish(start(args, options));
  }

  // Runs onnx-train on a terminal of its own (a pty), `env` added to its environment: the
  // terminal's whole output (stdout and stderr both, with the terminal's "\r\n" line ends) in `out`.
  CliRun run_on_terminal(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    const int slave =
        master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0 ? open(ptsname(master), O_RDWR | O_NOCTTY) : -1;
    if (slave < 0) {
      ADD_FAILURE() << "no pseudo-terminal: " << std::strerror(errno);
      if (master >= 0) close(master);
      return {};
    }
    SpawnOptions terminal;
    terminal.terminal_fd = slave;
    terminal.env = env;
    const pid_t pid = start(args, terminal);
    close(slave);
    std::string screen;
    char buffer[4096];
    for (;;) {
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 60000) <= 0) break;
      const ssize_t n = read(master, buffer, sizeof buffer);
      if (n <= 0) break;  // EIO once the child has closed the terminal
      screen.append(buffer, static_cast<size_t>(n));
    }
    close(master);
    CliRun r = finish(pid);
    r.out = screen;
    return r;
  }

  // A run that must succeed.
  CliRun ok(const std::vector<std::string>& args) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << r.show();
    EXPECT_EQ(r.err, "") << r.show();
    return r;
  }

  // A run that must fail with one clear message on stderr holding every part of `says`.
  CliRun fails(const std::vector<std::string>& args, const std::vector<std::string>& says,
               const SpawnOptions& options = {}) {
    CliRun r = run(args, options);
    EXPECT_NE(r.code, 0) << r.show();
    EXPECT_LT(r.code, 128) << "killed by a signal, not a clean error exit\n" << r.show();
    EXPECT_EQ(count_of(r.err, "onnx-train: error: "), 1) << r.show();
    EXPECT_EQ(r.err.rfind("onnx-train: error: ", 0), 0u) << "stderr holds more than the message\n" << r.show();
    for (const auto& part : says) EXPECT_HAS(r.err, part);
    return r;
  }

  std::string path(const std::string& rel) const { return root_ + "/" + rel; }

  testing::TempDir tmp_;
  std::string root_, work_;
  std::vector<std::string> env_;  // "NAME=value", for every run of the test
  int runs_ = 0;
  std::map<pid_t, std::string> stems_, commands_;
};

}  // namespace onnx_train::cli_test
