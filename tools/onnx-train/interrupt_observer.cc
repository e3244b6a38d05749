// tools/onnx-train/interrupt_observer.cc: SIGINT and SIGTERM as a stop between optimizer steps
// (interrupt_observer.h).
#include "tools/onnx-train/interrupt_observer.h"

#include <atomic>
#include <csignal>

namespace onnx_train::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

}  // namespace

void InterruptObserver::on_run_start() {
  g_interrupted = false;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

bool InterruptObserver::should_stop() { return g_interrupted; }

void InterruptObserver::on_run_end() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace onnx_train::cli
