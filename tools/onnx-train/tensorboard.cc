// tools/onnx-train/tensorboard.cc: TFRecord framing and the Event messages of TensorBoard's
// scalar charts (tensorboard.h).
#include "tools/onnx-train/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "onnx_train/error.h"

namespace onnx_train::cli {

namespace {

// The CRC of every byte value, for the byte-at-a-time update crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8).
std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}

// The protobuf wire format, as far as Event needs it: a field is its key (field_number << 3 |
// wire_type) as a varint, then its value: a varint (type 0), 8 little-endian bytes (type 1),
// a varint length and the bytes (type 2: strings and nested messages), or 4 bytes (type 5).
class ProtoWriter {
 public:
  void varint_field(int field, uint64_t value) {
    key(field, 0);
    varint(value);
  }
  void double_field(int field, double value) {
    key(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    put_le(out_, bits, 8);
  }
  void bytes_field(int field, const std::string& value) {
    key(field, 2);
    varint(value.size());
    out_ += value;
  }
  void float_field(int field, float value) {
    key(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    put_le(out_, bits, 4);
  }
  const std::string& bytes() const { return out_; }

 private:
  void key(int field, int wire_type) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type)); }
  // Seven bits a byte, least significant first; the high bit says another byte follows.
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_ += static_cast<char>((value & 0x7F) | 0x80);
      value >>= 7;
    }
    out_ += static_cast<char>(value);
  }
  std::string out_;
};

// Field numbers of event.proto and summary.proto.
constexpr int kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1, kValueSimpleValue = 2;

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_crc32c_table();
  const auto* bytes = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string length;
  put_le(length, data.size(), 8);
  std::string out = length;
  put_le(out, masked_crc32c(length.data(), length.size()), 4);
  out += data;
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

std::string file_version_event(double wall_time) {
  ProtoWriter event;
  event.double_field(kEventWallTime, wall_time);
  event.bytes_field(kEventFileVersion, "brain.Event:2");
  return event.bytes();
}

std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars) {
  ProtoWriter summary;
  for (const auto& [tag, value] : scalars) {
    ProtoWriter v;
    v.bytes_field(kValueTag, tag);
    v.float_field(kValueSimpleValue, value);
    summary.bytes_field(kSummaryValue, v.bytes());
  }
  ProtoWriter event;
  event.double_field(kEventWallTime, wall_time);
  event.varint_field(kEventStep, static_cast<uint64_t>(step));
  event.bytes_field(kEventSummary, summary.bytes());
  return event.bytes();
}

EventFileWriter::EventFileWriter(const std::string& path) : path_(path) {
  // O_EXCL: two runs started in the same second on one host never share a file.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  OT_CHECK(fd >= 0, "--tensorboard: cannot create the event file {}: {}", path, std::strerror(errno));
  file_.reset(::fdopen(fd, "wb"));
  if (!file_) ::close(fd);
  OT_CHECK(file_ != nullptr, "--tensorboard: cannot open the event file {}: {}", path, std::strerror(errno));
  write_record(file_version_event(unix_seconds_now()));
}

void EventFileWriter::write_scalars(int64_t step, const std::vector<Scalar>& scalars) {
  write_record(scalars_event(unix_seconds_now(), step, scalars));
}

void EventFileWriter::write_record(const std::string& event) {
  const std::string record = tfrecord(event);
  const bool written = std::fwrite(record.data(), 1, record.size(), file_.get()) == record.size();
  OT_CHECK(written && std::fflush(file_.get()) == 0, "--tensorboard: cannot write the event file {}: {}", path_,
           std::strerror(errno));
}

double unix_seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace onnx_train::cli
