// The JSON Lines metrics log (tools/onnx-train/metrics_log.h): every line is read back with a
// small strict JSON parser (RFC 8259 numbers, strings and null in flat objects), so a line
// that any JSON reader would reject fails here too.
#include "tools/onnx-train/metrics_log.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

#include "onnx_train/error.h"
#include "tests/support/model_builder.h"
#include "tools/onnx-train/log_observer.h"

namespace onnx_train::cli {
namespace {

using testing::TempDir;

struct JsonValue {
  enum Kind { kNull, kNumber, kString } kind = kNull;
  double number = 0;
  std::string text;
};
using JsonObject = std::vector<std::pair<std::string, JsonValue>>;  // in file order

// Parses one line holding a flat JSON object; throws std::runtime_error on anything a strict
// JSON parser would reject.
class JsonLineParser {
 public:
  explicit JsonLineParser(const std::string& text) : s_(text) {}

  JsonObject object() {
    JsonObject out;
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++i_;
    } else {
      while (true) {
        skip_space();
        std::string key = string();
        skip_space();
        expect(':');
        skip_space();
        out.emplace_back(std::move(key), value());
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        break;
      }
    }
    if (i_ != s_.size()) fail("text after the object");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + " at column " + std::to_string(i_) + " of: " + s_);
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void skip_space() {
    while (peek() == ' ' || peek() == '\t') ++i_;
  }
  bool digits() {
    const size_t start = i_;
    while (peek() >= '0' && peek() <= '9') ++i_;
    return i_ > start;
  }
  JsonValue value() {
    JsonValue v;
    if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return v;
    }
    if (peek() == '"') {
      v.kind = JsonValue::kString;
      v.text = string();
      return v;
    }
    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    const size_t start = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0')
      ++i_;
    else if (!(peek() >= '1' && peek() <= '9') || !digits())
      fail("not a JSON value");
    if (peek() == '.') {
      ++i_;
      if (!digits()) fail("no digits after the decimal point");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digits()) fail("no exponent digits");
    }
    v.kind = JsonValue::kNumber;
    v.number = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("raw control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      const char e = peek();
      ++i_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("short \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          if (code >= 0x80) fail("this test parser only expects \\u escapes of control characters");
          out += static_cast<char>(code);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

JsonObject parse(const std::string& line) { return JsonLineParser(line).object(); }

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MetricsLogTest, StepLinesAreJsonWithTheirExtras) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  log.log_step(12, 1, 0.4312, 0.001);
  log.log_step(13, 1, 0.5, 1e-5, {{"grad_norm", 1.75}, {"samples_per_second", 2510}});
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], R"({"step": 12, "epoch": 1, "loss": 0.4312, "lr": 0.001})");
  EXPECT_EQ(lines[1],
            R"({"step": 13, "epoch": 1, "loss": 0.5, "lr": 1e-05, "grad_norm": 1.75, "samples_per_second": 2510})");
  const JsonObject second = parse(lines[1]);
  ASSERT_EQ(second.size(), 6u);
  EXPECT_EQ(second[3].first, "lr");
  EXPECT_EQ(second[3].second.number, 1e-5);
  EXPECT_EQ(second[5].second.number, 2510);
}

TEST(MetricsLogTest, NumbersReadBackExactlyAndShort) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  std::mt19937_64 rng(7);
  std::vector<double> values = {0.1,  1.0 / 3,        2.0 / 3, 1e-300, 5e-324, 1.7976931348623157e308,
                                -0.0, 123456789012.5, 1e21,    1e-7};
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-40, 40);
  for (int i = 0; i < 500; ++i) values.push_back(std::ldexp(mantissa(rng), exponent(rng)));
  {
    MetricsLog log(path);
    for (size_t i = 0; i < values.size(); ++i) log.log_step(static_cast<int64_t>(i), 1, values[i], values[i]);
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const JsonObject o = parse(lines[i]);
    ASSERT_EQ(o.size(), 4u);
    EXPECT_EQ(o[0].second.number, static_cast<double>(i));
    EXPECT_EQ(o[2].second.kind, JsonValue::kNumber);
    EXPECT_EQ(o[2].second.number, values[i]) << lines[i];
    EXPECT_EQ(std::signbit(o[2].second.number), std::signbit(values[i])) << lines[i];
    EXPECT_LE(json_number(values[i]).size(), 24u) << "not the shortest form: " << lines[i];
  }
  EXPECT_EQ(json_number(0.1), "0.1");  // %.17g would say 0.10000000000000001
  EXPECT_EQ(json_number(3), "3");
}

TEST(MetricsLogTest, NanAndInfinityAreNullAndTheLogGoesOn) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  log.log_step(1, 1, std::nan(""), 0.1, {{"grad_norm", INFINITY}});
  log.log_validation(1, 1, -INFINITY, std::numeric_limits<double>::quiet_NaN());
  log.log_step(2, 1, 0.25, 0.1);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], R"({"step": 1, "epoch": 1, "loss": null, "lr": 0.1, "grad_norm": null})");
  EXPECT_EQ(lines[1], R"({"step": 1, "epoch": 1, "val_loss": null, "val_accuracy": null})");
  for (const auto& line : lines) EXPECT_NO_THROW(parse(line)) << line;
  EXPECT_EQ(parse(lines[0])[2].second.kind, JsonValue::kNull);
  EXPECT_EQ(parse(lines[2])[2].second.number, 0.25);
}

TEST(MetricsLogTest, ValidationLinesWithAndWithoutAccuracy) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  log.log_validation(938, 1, 0.3921, 0.861);
  log.log_validation(1876, 2, 0.35, std::nullopt);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], R"({"step": 938, "epoch": 1, "val_loss": 0.3921, "val_accuracy": 0.861})");
  EXPECT_EQ(lines[1], R"({"step": 1876, "epoch": 2, "val_loss": 0.35})");
}

TEST(MetricsLogTest, EventStringsAreEscaped) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  const std::string tricky = "a \"quoted\" C:\\path\nnew line\ttab\r\x01\x1f caf\xc3\xa9 \xf0\x9f\x93\x88 end\x7f";
  MetricsLog log(path);
  log.log_event("checkpoint", {{"path", "runs/ckpt-938.bin"}});
  log.log_event("stopped", {{"reason", tricky}, {"key \"with\" quotes", "v"}});
  // Bytes that are not UTF-8 (a Latin-1 name, a cut sequence, an encoded surrogate) become U+FFFD.
  log.log_event("bytes", {{"path", "caf\xe9.bin"}, {"cut", "x\xe2\x82"}, {"surrogate", "\xed\xa0\x80"}});
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], R"({"event": "checkpoint", "path": "runs/ckpt-938.bin"})");
  EXPECT_EQ(lines[1].find('\r'), std::string::npos);
  EXPECT_NE(lines[1].find(R"(\"quoted\" C:\\path\nnew line\ttab\r\u0001\u001f)"), std::string::npos) << lines[1];
  const JsonObject stopped = parse(lines[1]);
  ASSERT_EQ(stopped.size(), 3u);
  EXPECT_EQ(stopped[0].second.text, "stopped");
  EXPECT_EQ(stopped[1].second.text, tricky);  // reads back byte for byte
  EXPECT_EQ(stopped[2].first, "key \"with\" quotes");
  const JsonObject bytes = parse(lines[2]);
  const std::string replacement = "\xef\xbf\xbd";
  EXPECT_EQ(bytes[1].second.text, "caf" + replacement + ".bin");
  EXPECT_EQ(bytes[2].second.text, "x" + replacement + replacement);
  EXPECT_EQ(bytes[3].second.text, replacement + replacement + replacement);
}

TEST(MetricsLogTest, EachLineIsOnDiskAsSoonAsItIsLogged) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  log.log_step(1, 1, 2.3, 0.1);
  EXPECT_EQ(read_all(path), "{\"step\": 1, \"epoch\": 1, \"loss\": 2.3, \"lr\": 0.1}\n");  // the log is still open
  log.log_event("checkpoint", {{"path", "a"}});
  EXPECT_EQ(read_lines(path).size(), 2u);
}

TEST(MetricsLogTest, AppendKeepsTheEarlierRunAndTruncateDoesNot) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  {
    MetricsLog log(path);
    log.log_step(1, 1, 2.0, 0.1);
    log.log_step(2, 1, 1.5, 0.1);
  }
  {
    MetricsLog log(path, /*append=*/true);
    log.log_event("resumed", {{"from", "step-2.ckpt"}});
    log.log_step(3, 1, 1.2, 0.1);
  }
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(parse(lines[1])[0].second.number, 2);
  EXPECT_EQ(parse(lines[2])[1].second.text, "step-2.ckpt");
  EXPECT_EQ(parse(lines[3])[0].second.number, 3);
  { MetricsLog log(path); }
  EXPECT_EQ(read_all(path), "");
  // Appending to a file that does not exist yet creates it.
  { MetricsLog(dir.path() + "/new.jsonl", true).log_step(1, 1, 1, 1); }
  EXPECT_EQ(read_lines(dir.path() + "/new.jsonl").size(), 1u);
}

TEST(MetricsLogTest, AppendAfterACutLineStartsANewLine) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  std::ofstream(path)
      << "{\"step\": 1, \"epoch\": 1, \"loss\": 2.0, \"lr\": 0.1}\n{\"step\": 2, \"ep";  // killed mid-write
  {
    MetricsLog log(path, true);
    log.log_step(2, 1, 1.5, 0.1);
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NO_THROW(parse(lines[0]));
  EXPECT_THROW(parse(lines[1]), std::runtime_error);  // the cut line stays cut: readers skip it
  EXPECT_EQ(lines[2], R"({"step": 2, "epoch": 1, "loss": 1.5, "lr": 0.1})");
}

TEST(MetricsLogTest, EventFieldsKeepTheirTypes) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  const int64_t step = 36;
  log.log_event("checkpoint", {{"path", "ck/step-000000036.ckpt"}, {"step", step}});
  log.log_event("mixed", {{"count", 3},
                          {"unsigned", size_t{7}},
                          {"loss", 0.25},
                          {"nan", std::nan("")},
                          {"text", std::string("36")},
                          {"flag", true}});
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], R"({"event": "checkpoint", "path": "ck/step-000000036.ckpt", "step": 36})");
  EXPECT_EQ(lines[1],
            R"({"event": "mixed", "count": 3, "unsigned": 7, "loss": 0.25, "nan": null, "text": "36", "flag": true})");
  const JsonObject checkpoint = parse(lines[0]);
  EXPECT_EQ(checkpoint[2].second.kind, JsonValue::kNumber);
  EXPECT_EQ(checkpoint[2].second.number, 36);
}

TEST(MetricsLogTest, StepExtrasMayBeCountsAndTimes) {
  TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  MetricsLog log(path);
  log.log_step(36, 2, 0.5, 0.001, {{"samples", int64_t{1152}}, {"epoch_loss_mean", 0.625}, {"time", 12.5}});
  EXPECT_EQ(read_lines(path)[0],
            R"({"step": 36, "epoch": 2, "loss": 0.5, "lr": 0.001, "samples": 1152, "epoch_loss_mean": 0.625, )"
            R"("time": 12.5})");
}

// A step's loss is the mean over the samples of all the micro-batches it accumulated.
TEST(MetricsLogTest, StepLossIsTheMeanOverTheStepsSamples) {
  StepLoss loss;
  loss.add(1.0, 8);
  loss.add(4.0, 2);  // a short last micro-batch weighs less
  EXPECT_DOUBLE_EQ(loss.take(99), (1.0 * 8 + 4.0 * 2) / 10);
  EXPECT_EQ(loss.take(99), 99);  // taken: the next step starts afresh
  loss.add(0.5, 3);
  EXPECT_EQ(loss.take(99), 0.5);
}

TEST(MetricsLogTest, ErrorsNameTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/no-such-folder/log.jsonl";
  for (const bool append : {false, true}) {
    try {
      MetricsLog log(path, append);
      ADD_FAILURE() << "opened " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  MetricsLog log(dir.path() + "/log.jsonl");
  EXPECT_THROW(log.log_step(1, 1, 1, 1, {{"loss", 2}}), Error);  // a second "loss" key
  EXPECT_THROW(log.log_event("checkpoint", {{"event", "x"}}), Error);
}

TEST(MetricsLogTest, WriteFailureIsAnError) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  MetricsLog log("/dev/full");
  try {
    log.log_step(1, 1, 1, 1);
    ADD_FAILURE() << "wrote to /dev/full";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace onnx_train::cli
