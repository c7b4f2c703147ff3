#include "format/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <lz4.h>

#include "common/error.h"
#include "format/block.h"
#include "format/kind_table.h"
#include "format/packer.h"
#include "format/schema_util.h"

namespace ebt::format {
namespace {

using Clock = std::chrono::steady_clock;

// A byte vector whose resize() leaves the new bytes uninitialised: room for
// the packer (and LZ4) is made without zeroing it first.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};
using Bytes = std::vector<uint8_t, NoInitAllocator<uint8_t>>;

// Appends one framed packed message (docs/format.md, "Payload") to `out`,
// packed straight into the block (format/packer.h: what
// capnp::writePackedMessage writes, without its staging buffer and faster on
// payload bytes).
void append_frame(Bytes& out, uint16_t kind, capnp::MessageBuilder& msg) {
  const size_t at = out.size();
  auto segments = msg.getSegmentsForOutput();
  out.resize(at + disk::kFrameBytes + packed_message_bound(segments));  // not zeroed
  const size_t len = pack_message(segments, out.data() + at + disk::kFrameBytes);
  out.resize(at + disk::kFrameBytes + len);
  disk::put16(out.data() + at, kind);
  disk::put16(out.data() + at + 2, 0);
  disk::put32(out.data() + at + 4, static_cast<uint32_t>(len));
}

// One record kind's events in the current block. Slots are reused from block
// to block, their buffers (payload bytes, stack copies) included: no
// allocation per event at high event rates.
template <typename T>
struct EventBatch {
  std::vector<T> slots;  // the first `used` are this block's
  size_t used = 0;
  size_t bytes = 0;      // estimated encoded size
  void add(const T& e, size_t encoded) {
    if (used == slots.size()) slots.emplace_back();
    slots[used++] = e;
    bytes += encoded;
  }
  void take(T& e, size_t encoded) {
    if (used == slots.size()) slots.emplace_back();
    std::swap(slots[used++], e);
    bytes += encoded;
  }
  std::span<const T> events() const { return {slots.data(), used}; }
  void clear() {
    used = 0;
    bytes = 0;
  }
};

template <RecordKind K>
using BatchOf = std::conditional_t<Kind<K>::shape == Shape::kBatch, EventBatch<record_t<K>>, std::monostate>;
template <typename Ordinals>
struct BatchesFor;
template <uint16_t... I>
struct BatchesFor<std::integer_sequence<uint16_t, I...>> {
  using type = std::tuple<BatchOf<static_cast<RecordKind>(I)>...>;
};

struct PendingBlock {
  disk::BlockHeader header;
  Bytes payload;  // raw (uncompressed)
};

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

class CaptureWriter::Impl {
 public:
  Impl(const std::string& path, const SessionInfo& session, WriterOptions options)
      : path_(path), options_(std::move(options)) {
    if (path == "-") {
      // Streamed to standard output (a pipe or ssh's socket): written front to
      // back, never seeked; whoever creates the file there sets its mode.
      fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
      if (fd_ < 0) throw RuntimeFailure("cannot write the capture to standard output: " + errno_text(errno));
      path_ = "standard output";
    } else {
      fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd_ < 0) throw RuntimeFailure("cannot create capture " + path + ": " + errno_text(errno));
    }
    // The capture may hold payload bytes: never let umask or an existing file widen it.
    if (path != "-" && ::fchmod(fd_, 0600) != 0) {
      int e = errno;
      ::close(fd_);
      throw RuntimeFailure("cannot set mode 0600 on " + path + ": " + errno_text(e));
    }
    uint8_t fh[disk::kFileHeaderBytes];
    disk::encode_file_header(disk::FileHeader{}, fh);
    write_all(fh, sizeof fh);
    offset_ = sizeof fh;

    std::vector<uint8_t> schema = options_.schema_block_override.empty()
                                      ? encode_schema_block(compiled_record_schema())
                                      : options_.schema_block_override;
    PendingBlock sb;
    sb.header.type = disk::kSchemaBlock;
    sb.header.sequence = next_seq_++;
    {
      kj::Array<capnp::word> words = kj::heapArray<capnp::word>((schema.size() + 7) / 8);
      std::memcpy(words.begin(), schema.data(), schema.size());
      capnp::FlatArrayMessageReader reader(words);
      capnp::MallocMessageBuilder copy;
      copy.setRoot(reader.getRoot<capnp::AnyPointer>());
      append_frame(sb.payload, 0, copy);
    }
    sb.header.raw_bytes = sb.payload.size();
    write_block(sb);

    thread_ = std::thread([this] { run(); });
    // Block 1 holds the session alone, so any prefix with two blocks names its session.
    add(session);
    cut();
  }

  ~Impl() {
    if (!finished_) {
      try {
        finish(nullptr);
      } catch (...) {
      }
    }
    if (fd_ >= 0) ::close(fd_);
  }

  void check_open() {
    if (finished_) throw RuntimeFailure("capture " + path_ + ": record added after finish()");
  }

  template <typename Fn>
  void single(RecordKind kind, Fn&& fill) {
    check_open();
    capnp::MallocMessageBuilder msg(256);
    fill(msg.initRoot<wire::Record>());
    append_frame(singles_, static_cast<uint16_t>(kind), msg);
    note(kind, 1);
    maybe_cut();
  }

  void note(RecordKind kind, uint32_t n) {
    if (records_ == 0 && !block_started_) {
      block_started_ = true;
      block_birth_ = Clock::now();
    }
    mask_ |= kind_bit(kind);
    records_ += n;
    total_records_ += n;
  }

  void event_time(uint64_t t) {
    if (!has_time_) {
      first_ = last_ = t;
      has_time_ = true;
    } else {
      if (t < first_) first_ = t;
      if (t > last_) last_ = t;
    }
  }

  void maybe_cut() {
    if (singles_.size() + estimate_ >= options_.max_block_bytes) {
      cut();
    } else if ((++age_check_ & 255) == 0) {
      tick();
    }
  }

  void tick() {
    if (block_started_ && Clock::now() - block_birth_ >= options_.max_block_age) cut();
    check_failed();
  }

  // Any record: tables and single events are encoded into the block now, batch
  // events wait in their kind's batch until the block is cut.
  template <typename T>
  void add(const T& v) {
    put<T, false>(v);
  }
  // The batch may swap v's contents into its slot (CaptureWriter::take).
  template <typename T>
  void take(T& v) {
    put<T, true>(v);
  }

  template <typename T, bool kTake>
  void put(std::conditional_t<kTake, T&, const T&> v) {
    constexpr RecordKind kind = kind_of<T>;
    using E = Kind<kind>;
    if constexpr (E::shape == Shape::kBatch) {
      check_open();
      // The event's estimated size in the block cuts blocks and sizes the batch's first segment.
      const size_t encoded = E::estimate(v);
      const uint64_t t = E::time(v);
      auto& batch = std::get<static_cast<size_t>(kind)>(batches_);
      if constexpr (kTake)
        batch.take(v, encoded);
      else
        batch.add(v, encoded);
      estimate_ += encoded;
      event_time(t);
      note(kind, 1);
      maybe_cut();
    } else {
      if constexpr (E::shape == Shape::kEvent) event_time(E::time(v));
      single(kind, [&](wire::Record::Builder r) { E::encode(r, v); });
    }
  }

  void add_raw(uint16_t kind, const void* data, size_t bytes) {
    check_open();
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>((bytes + 7) / 8);
    std::memcpy(words.begin(), data, bytes);
    capnp::FlatArrayMessageReader reader(words);
    capnp::MallocMessageBuilder copy;
    copy.setRoot(reader.getRoot<capnp::AnyPointer>());
    append_frame(singles_, kind, copy);
    if (records_ == 0 && !block_started_) {
      block_started_ = true;
      block_birth_ = Clock::now();
    }
    mask_ |= kind_bit(kind);
    ++records_;
    ++total_records_;
    maybe_cut();
  }

  template <RecordKind K>
  void flush_batch(Bytes& out) {
    auto& b = std::get<static_cast<size_t>(K)>(batches_);
    if (b.used == 0) return;
    // A first segment that holds the whole batch (the estimates are rough: half
    // again as much): no segment chain to allocate and flatten. It is the
    // writer's arena, kept zeroed from batch to batch (the builder zeroes what
    // it used when it goes): a fresh calloc of a block's size per batch costs
    // the zeroing plus a page fault per page (a VM exit each on a VM).
    const size_t words = b.bytes / 8 * 3 / 2 + 64;
    if (arena_.size() < words) arena_ = std::vector<capnp::word>(std::max(words, arena_.size() * 2));
    {
      capnp::MallocMessageBuilder msg(kj::arrayPtr(arena_.data(), arena_.size()));
      Kind<K>::encode(msg.initRoot<wire::Record>(), b.events());
      append_frame(out, static_cast<uint16_t>(K), msg);
    }
    b.clear();
  }

  // Seals the current block and hands it to the writer thread.
  void cut() {
    check_failed();
    if (records_ == 0 && singles_.empty()) return;
    if (options_.before_cut && !in_before_cut_) {
      in_before_cut_ = true;
      try {
        options_.before_cut();
      } catch (...) {
        in_before_cut_ = false;
        throw;
      }
      in_before_cut_ = false;
    }
    PendingBlock b;
    b.payload = std::move(singles_);
    singles_ = take_spare();
    for_each_kind([&](auto k) {
      if constexpr (Kind<k()>::shape == Shape::kBatch) flush_batch<k()>(b.payload);
    });
    if (b.payload.size() > disk::kMaxRawBlockBytes)
      throw RuntimeFailure("capture " + path_ + ": a block of " + std::to_string(b.payload.size()) +
                           " bytes exceeds the format limit (one record too large?)");
    b.header.type = disk::kDataBlock;
    b.header.sequence = next_seq_++;
    b.header.raw_bytes = b.payload.size();
    b.header.records = records_;
    b.header.kind_mask = mask_;
    b.header.first_time_ns = has_time_ ? first_ : 0;
    b.header.last_time_ns = has_time_ ? last_ : 0;
    records_ = 0;
    mask_ = 0;
    has_time_ = false;
    estimate_ = 0;
    block_started_ = false;
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < options_.max_queued_blocks || failed_; });
    queue_.push_back(std::move(b));
    work_.notify_one();
  }

  void flush() {
    cut();
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return (queue_.empty() && !busy_) || failed_; });
    lock.unlock();
    check_failed();
  }

  WriteStats finish(const SessionEnd* end) {
    if (finished_) return stats();
    std::string error;
    try {
      if (end) add(*end);
      cut();
    } catch (const std::exception& e) {
      error = e.what();
    }
    finished_ = true;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      work_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    if (error.empty() && failed_) error = error_;
    if (!error.empty()) throw RuntimeFailure(error);

    // Index block, then trailer.
    capnp::MallocMessageBuilder msg;
    auto entries = msg.initRoot<wire::Index>().initBlocks(index_.size());
    for (unsigned i = 0; i < index_.size(); ++i) {
      const auto& [off, h] = index_[i];
      auto e = entries[i];
      e.setOffset(off);
      e.setType(h.type);
      e.setSequence(h.sequence);
      e.setStoredBytes(h.stored_bytes);
      e.setRawBytes(h.raw_bytes);
      e.setRecords(h.records);
      e.setFirstTimeNs(h.first_time_ns);
      e.setLastTimeNs(h.last_time_ns);
      e.setKindMask(h.kind_mask);
    }
    PendingBlock ib;
    ib.header.type = disk::kIndexBlock;
    ib.header.sequence = next_seq_++;
    append_frame(ib.payload, 0, msg);
    ib.header.raw_bytes = ib.payload.size();
    uint64_t index_offset = offset_;
    write_block(ib);
    disk::Trailer t;
    t.index_offset = index_offset;
    t.index_bytes = offset_ - index_offset;
    t.block_count = next_seq_;
    uint8_t tb[disk::kTrailerBytes];
    disk::encode_trailer(t, tb);
    write_all(tb, sizeof tb);
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw RuntimeFailure("cannot close capture " + path_ + ": " + errno_text(errno));
    }
    fd_ = -1;
    return stats();
  }

  WriteStats stats() const {
    std::lock_guard lock(mu_);
    WriteStats s;
    s.records = total_records_;
    s.blocks = blocks_written_;
    s.bytes_uncompressed = raw_written_;
    s.bytes_written = offset_;
    return s;
  }

 private:
  // One EventBatch per batch kind, at its ordinal (std::monostate for the others).
  BatchesFor<std::make_integer_sequence<uint16_t, kKnownKindCount>>::type batches_;

  // An empty payload buffer for the next block, with the capacity of an earlier
  // one when the writer thread has given one back: growing a fresh buffer to a
  // block's size reallocates and copies it a dozen times and faults in its pages.
  Bytes take_spare() {
    std::lock_guard lock(mu_);
    if (spare_.empty()) return {};
    Bytes v = std::move(spare_.back());
    spare_.pop_back();
    return v;
  }

  void check_failed() {
    if (failed_) {
      std::lock_guard lock(mu_);
      throw RuntimeFailure(error_);
    }
  }

  void write_all(const void* data, size_t n) {
    auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw RuntimeFailure("cannot write capture " + path_ + ": " + errno_text(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  // Compresses, checksums and writes one block (writer thread, or the caller
  // before the thread starts / after it stopped).
  void write_block(PendingBlock& b) {
    Bytes& out = compressed_;
    out.resize(disk::kBlockHeaderBytes + LZ4_compressBound(static_cast<int>(b.payload.size())));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(b.payload.data()),
                                 reinterpret_cast<char*>(out.data() + disk::kBlockHeaderBytes),
                                 static_cast<int>(b.payload.size()),
                                 static_cast<int>(out.size() - disk::kBlockHeaderBytes));
    if (n > 0 && static_cast<size_t>(n) < b.payload.size()) {
      b.header.codec = disk::kCodecLz4;
      b.header.stored_bytes = static_cast<uint32_t>(n);
    } else {
      b.header.codec = disk::kCodecNone;
      b.header.stored_bytes = static_cast<uint32_t>(b.payload.size());
      std::memcpy(out.data() + disk::kBlockHeaderBytes, b.payload.data(), b.payload.size());
    }
    b.header.payload_crc = disk::crc32(out.data() + disk::kBlockHeaderBytes, b.header.stored_bytes);
    disk::encode_block_header(b.header, out.data());
    size_t total = disk::kBlockHeaderBytes + b.header.stored_bytes;
    write_all(out.data(), total);
    std::lock_guard lock(mu_);
    index_.emplace_back(offset_, b.header);
    offset_ += total;
    ++blocks_written_;
    raw_written_ += b.payload.size();
  }

  void run() {
    for (;;) {
      PendingBlock b;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !queue_.empty() || stop_; });
        if (queue_.empty()) return;
        b = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        space_.notify_all();
      }
      try {
        if (!failed_) write_block(b);
      } catch (const std::exception& e) {
        std::lock_guard lock(mu_);
        error_ = e.what();
        failed_ = true;
        space_.notify_all();
      }
      std::lock_guard lock(mu_);
      // The payload buffer goes back to the producer for a later block.
      if (spare_.size() < 2) {
        b.payload.clear();
        spare_.push_back(std::move(b.payload));
      }
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  std::string path_;
  WriterOptions options_;
  int fd_ = -1;
  bool finished_ = false;
  bool in_before_cut_ = false;

  // Current block (producer thread).
  Bytes singles_;
  std::vector<capnp::word> arena_;  // batch messages' first segment, zeroed between uses
  size_t estimate_ = 0;
  uint32_t records_ = 0;
  uint64_t mask_ = 0;
  bool has_time_ = false;
  uint64_t first_ = 0, last_ = 0;
  bool block_started_ = false;
  Clock::time_point block_birth_;
  uint32_t age_check_ = 0;
  uint32_t next_seq_ = 0;
  uint64_t total_records_ = 0;

  // Writer thread.
  mutable std::mutex mu_;
  std::condition_variable work_, space_, idle_;
  std::deque<PendingBlock> queue_;
  bool stop_ = false;
  bool busy_ = false;
  std::atomic<bool> failed_{false};
  std::string error_;
  std::thread thread_;
  std::vector<std::pair<uint64_t, disk::BlockHeader>> index_;
  std::vector<Bytes> spare_;  // written blocks' payload buffers (under mu_)
  Bytes compressed_;          // write_block's output, reused
  uint64_t offset_ = 0;
  uint64_t blocks_written_ = 0;
  uint64_t raw_written_ = 0;
};

CaptureWriter::CaptureWriter(const std::string& path, const SessionInfo& session, WriterOptions options)
    : impl_(std::make_unique<Impl>(path, session, std::move(options))) {}
CaptureWriter::~CaptureWriter() = default;

void CaptureWriter::add_record(RecordKind kind, const void* record) {
  using AddFn = void (*)(Impl&, const void*);
  static constexpr auto kAdd = kind_array([](auto k) -> AddFn {
    using T = record_t<decltype(k)::value>;
    return [](Impl& impl, const void* r) { impl.add(*static_cast<const T*>(r)); };
  });
  kAdd[static_cast<uint16_t>(kind)](*impl_, record);
}
void CaptureWriter::take_record(RecordKind kind, void* record) {
  using TakeFn = void (*)(Impl&, void*);
  static constexpr auto kTake = kind_array([](auto k) -> TakeFn {
    using T = record_t<decltype(k)::value>;
    return [](Impl& impl, void* r) { impl.take(*static_cast<T*>(r)); };
  });
  kTake[static_cast<uint16_t>(kind)](*impl_, record);
}
void CaptureWriter::add_raw(uint16_t kind, const void* msg, size_t bytes) { impl_->add_raw(kind, msg, bytes); }
void CaptureWriter::tick() { impl_->tick(); }
void CaptureWriter::flush() { impl_->flush(); }
WriteStats CaptureWriter::finish(const SessionEnd& end) { return impl_->finish(&end); }
WriteStats CaptureWriter::stats() const { return impl_->stats(); }

}  // namespace ebt::format
