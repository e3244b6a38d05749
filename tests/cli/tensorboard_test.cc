// --tensorboard DIR (tools/onnx-train/tensorboard.h): the event files a run writes are read
// back here by a reader of their own (TFRecord framing with both CRCs checked by a bitwise
// CRC-32C, the Event protobuf decoded field by field), and the scalars must be the values the
// --log file holds for the same steps. The real binary, as a user runs it (cli_harness.h).
#include "tools/onnx-train/tensorboard.h"

#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <stdexcept>

#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

// CRC-32C one bit at a time, straight from the definition (reflected polynomial 0x82F63B78):
// an oracle that shares nothing with the table-driven one under test.
uint32_t crc32c_bitwise(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint64_t read_le(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

// The data of every record of an event file, each record's two CRCs checked; throws on a
// record that is cut short or whose CRC does not match.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> records;
  for (size_t at = 0; at < file.size();) {
    if (file.size() - at < 12) throw std::runtime_error("a record header cut short at byte " + std::to_string(at));
    const uint64_t length = read_le(file, at, 8);
    if (read_le(file, at + 8, 4) != masked(crc32c_bitwise(file.substr(at, 8))))
      throw std::runtime_error("bad length CRC at byte " + std::to_string(at));
    if (file.size() - at - 12 < length + 4)
      throw std::runtime_error("a record cut short at byte " + std::to_string(at));
    const std::string data = file.substr(at + 12, length);
    if (read_le(file, at + 12 + length, 4) != masked(crc32c_bitwise(data)))
      throw std::runtime_error("bad data CRC at byte " + std::to_string(at));
    records.push_back(data);
    at += 12 + length + 4;
  }
  return records;
}

// The protobuf wire format, read: (field number, wire type, value) in order.
struct ProtoField {
  int number = 0, wire_type = 0;
  uint64_t integer = 0;  // varint, fixed64 and fixed32 values
  std::string bytes;     // length-delimited values
};

std::vector<ProtoField> proto_fields(const std::string& message) {
  size_t at = 0;
  auto varint = [&] {
    uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      if (at >= message.size() || shift > 63) throw std::runtime_error("a varint cut short");
      const auto byte = static_cast<unsigned char>(message[at++]);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
  };
  auto fixed = [&](int size) {
    if (message.size() - at < static_cast<size_t>(size)) throw std::runtime_error("a fixed value cut short");
    const uint64_t value = read_le(message, at, size);
    at += size;
    return value;
  };
  std::vector<ProtoField> fields;
  while (at < message.size()) {
    const uint64_t key = varint();
    ProtoField f;
    f.number = static_cast<int>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    if (f.wire_type == 0) {
      f.integer = varint();
    } else if (f.wire_type == 1) {
      f.integer = fixed(8);
    } else if (f.wire_type == 5) {
      f.integer = fixed(4);
    } else if (f.wire_type == 2) {
      const uint64_t length = varint();
      if (message.size() - at < length) throw std::runtime_error("a length-delimited field cut short");
      f.bytes = message.substr(at, length);
      at += length;
    } else {
      throw std::runtime_error("wire type " + std::to_string(f.wire_type) + " in an Event");
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

// An Event as event.proto / summary.proto define it, the fields a scalar chart uses.
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::map<std::string, float> scalars;  // Summary.Value tag -> simple_value
};

Event decode_event(const std::string& data) {
  Event e;
  for (const ProtoField& f : proto_fields(data)) {
    if (f.number == 1 && f.wire_type == 1) {
      std::memcpy(&e.wall_time, &f.integer, 8);
    } else if (f.number == 2 && f.wire_type == 0) {
      e.step = static_cast<int64_t>(f.integer);
    } else if (f.number == 3 && f.wire_type == 2) {
      e.file_version = f.bytes;
    } else if (f.number == 5 && f.wire_type == 2) {
      for (const ProtoField& value : proto_fields(f.bytes)) {
        if (value.number != 1 || value.wire_type != 2) throw std::runtime_error("a Summary field that is no Value");
        std::string tag;
        std::optional<float> simple;
        for (const ProtoField& v : proto_fields(value.bytes)) {
          if (v.number == 1 && v.wire_type == 2) tag = v.bytes;
          if (v.number == 2 && v.wire_type == 5) {
            const auto bits = static_cast<uint32_t>(v.integer);
            float x;
            std::memcpy(&x, &bits, 4);
            simple = x;
          }
        }
        if (tag.empty() || !simple) throw std::runtime_error("a Value without a tag or a simple_value");
        e.scalars[tag] = *simple;
      }
    } else {
      throw std::runtime_error("unexpected Event field " + std::to_string(f.number));
    }
  }
  return e;
}

std::vector<Event> read_events(const std::string& path) {
  std::vector<Event> events;
  for (const std::string& record : read_records(read_file(path))) events.push_back(decode_event(record));
  return events;
}

// The event files of a folder, by name (the order TensorBoard reads them in).
std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& name : tree(dir))
    if (name.rfind("events.out.tfevents.", 0) == 0) files.push_back(dir + "/" + name);
  return files;
}

// The numbers of a --log line: {"step": 3, "loss": 0.5, ...} -> {step: 3, loss: 0.5}.
std::map<std::string, double> log_numbers(const std::string& line) {
  std::map<std::string, double> out;
  static const std::regex number("\"([a-z_]+)\": (-?[0-9][-+.0-9eE]*)");
  for (std::sregex_iterator it(line.begin(), line.end(), number), end; it != end; ++it)
    out[(*it)[1]] = std::stod((*it)[2]);
  return out;
}

TEST(TensorBoardCrc, KnownAnswersAndTheBitwiseDefinition) {
  const std::string check = "123456789";
  EXPECT_EQ(cli::crc32c(check.data(), check.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_bitwise(check), 0xE3069283u);
  EXPECT_EQ(cli::crc32c("", 0), 0u);
  // 32 zero bytes: a test vector of RFC 3720 (iSCSI), which uses the same CRC.
  const std::string zeros(32, '\0');
  EXPECT_EQ(cli::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::mt19937 rng(5);
  for (size_t size : {1, 7, 64, 1000}) {
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    EXPECT_EQ(cli::crc32c(bytes.data(), bytes.size()), crc32c_bitwise(bytes)) << size << " bytes";
    EXPECT_EQ(cli::masked_crc32c(bytes.data(), bytes.size()), masked(crc32c_bitwise(bytes)));
  }
}

TEST(TensorBoardCrc, ARecordFramesItsDataAndAnEventDecodes) {
  const std::string event = cli::scalars_event(1.5, 300, {{"train/loss", 0.25f}, {"val/accuracy", 0.75f}});
  const std::string record = cli::tfrecord(event);
  EXPECT_EQ(record.size(), event.size() + 16);
  const std::vector<std::string> records = read_records(record);
  ASSERT_EQ(records.size(), 1u);
  const Event e = decode_event(records[0]);
  EXPECT_EQ(e.wall_time, 1.5);
  EXPECT_EQ(e.step, 300);  // a varint of two bytes
  EXPECT_EQ(e.scalars, (std::map<std::string, float>{{"train/loss", 0.25f}, {"val/accuracy", 0.75f}}));
  // One flipped bit anywhere is caught.
  std::string damaged = record;
  damaged[record.size() / 2] ^= 0x10;
  EXPECT_THROW(read_records(damaged), std::runtime_error);
}

class CliTensorBoard : public CliTest {};

TEST_F(CliTensorBoard, ScalarsAreTheLogsValuesAtTheSameSteps) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(64, 1), 16);
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--epochs", "2", "--clip-grad-norm", "1", "--schedule",
                       "cosine", "--log", path("log.jsonl"), "--tensorboard", path("tb/run1"), "-o", path("out.onnx")});
  const std::vector<std::string> files = event_files(path("tb/run1"));
  ASSERT_EQ(files.size(), 1u) << joined(tree(path("tb")));
  EXPECT_TRUE(std::regex_search(files[0], std::regex("/events\\.out\\.tfevents\\.[0-9]{10}\\.[^/]+$"))) << files[0];
  const std::vector<Event> events = read_events(files[0]);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].scalars.empty());

  // step -> that step's scalars, from the event file and from the log.
  std::map<int64_t, std::map<std::string, float>> board, logged;
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].file_version, "");
    EXPECT_GE(events[i].wall_time, events[i - 1].wall_time);
    EXPECT_GT(events[i].wall_time, 1.6e9);  // seconds since 1970, not since the run started
    for (const auto& [tag, value] : events[i].scalars) {
      EXPECT_EQ(board[events[i].step].count(tag), 0u) << tag << " twice at step " << events[i].step;
      board[events[i].step][tag] = value;
    }
  }
  const std::map<std::string, std::string> tag_of = {{"loss", "train/loss"},
                                                     {"lr", "train/lr"},
                                                     {"grad_norm", "train/grad_norm"},
                                                     {"val_loss", "val/loss"},
                                                     {"val_accuracy", "val/accuracy"}};
  for (const auto& line : lines_of(read_file(path("log.jsonl")))) {
    const auto numbers = log_numbers(line);
    if (!numbers.count("step")) continue;
    for (const auto& [key, value] : numbers)
      if (tag_of.count(key))
        logged[static_cast<int64_t>(numbers.at("step"))][tag_of.at(key)] = static_cast<float>(value);
  }
  EXPECT_EQ(board, logged);
  // 64 samples in batches of 8, two epochs: 16 steps, each with its loss, rate and gradient
  // norm; a validation at each epoch's end (steps 8 and 16).
  ASSERT_EQ(board.size(), 16u);
  EXPECT_EQ(board.begin()->first, 1);
  EXPECT_EQ(board.rbegin()->first, 16);
  for (const auto& [step, scalars] : board) EXPECT_EQ(scalars.size(), step % 8 == 0 ? 5u : 3u) << "step " << step;
  EXPECT_NE(board.at(1).at("train/lr"), board.at(16).at("train/lr")) << "the cosine schedule's rates";
}

TEST_F(CliTensorBoard, AResumedRunAddsAFileWhoseStepsContinue) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(64, 1));
  const std::vector<std::string> common = {
      model,      path("data"),    "--batch-size", "8",  "--epochs",      "2", "--checkpoint-dir",
      path("ck"), "--tensorboard", path("tb"),     "-o", path("out.onnx")};
  ok(plus(common, {"--max-steps", "5"}));
  ASSERT_EQ(event_files(path("tb")).size(), 1u);
  ok(plus(common, {"--resume"}));
  const std::vector<std::string> files = event_files(path("tb"));
  ASSERT_EQ(files.size(), 2u) << joined(tree(path("tb")));
  std::vector<int64_t> steps;
  for (const auto& file : files) {
    const std::vector<Event> events = read_events(file);
    ASSERT_FALSE(events.empty()) << file;
    EXPECT_EQ(events[0].file_version, "brain.Event:2") << file;
    for (const Event& e : events)
      if (e.scalars.count("train/loss")) steps.push_back(e.step);
  }
  // In the order TensorBoard reads the files: steps 1 to 16, each once.
  std::vector<int64_t> expected(16);
  for (int64_t i = 0; i < 16; ++i) expected[i] = i + 1;
  EXPECT_EQ(steps, expected);
}

TEST_F(CliTensorBoard, AKilledRunLeavesEveryStepItTookReadable) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(2000, 4));  // 250 batches an epoch, 400 epochs: runs until killed
  const pid_t pid = start({model, path("data"), "--batch-size", "8", "--epochs", "400", "--tensorboard", path("tb"),
                           "-o", path("out.onnx")});
  // Each step's record is on disk as soon as the step is done, not when the file is closed.
  auto steps_on_disk = [&] {
    const std::vector<std::string> files = event_files(path("tb"));
    try {
      return files.size() == 1 ? read_records(read_file(files[0])).size() : 0u;
    } catch (const std::runtime_error&) {
      return size_t{0};  // read while a record was being written
    }
  };
  ASSERT_TRUE(wait_until([&] { return steps_on_disk() >= 4; })) << out_of(pid);
  kill(pid, SIGKILL);
  EXPECT_EQ(finish(pid).code, 1000 + SIGKILL);
  const std::vector<Event> events = read_events(event_files(path("tb")).at(0));
  ASSERT_GE(events.size(), 4u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_EQ(events[i].step, static_cast<int64_t>(i));
}

TEST_F(CliTensorBoard, AFileWhereTheFolderShouldBeIsRefusedBeforeTraining) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(64, 1));
  write_file(path("taken"), "a file");
  fails({model, path("data"), "--tensorboard", path("taken"), "-o", path("out.onnx")},
        {"--tensorboard " + path("taken"), "is not a folder"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

}  // namespace
}  // namespace onnx_train::cli_test
