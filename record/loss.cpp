#include "record/loss.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/events.h"
#include "format/writer.h"

namespace ebt::record {
namespace {

LossSource loss_source(uint32_t reason) {
  switch (reason) {
    case EBT_LOST_RINGBUF: return LossSource::kRingBuffer;
    case EBT_LOST_STACK: return LossSource::kStack;
    case EBT_LOST_OFFCPU: return LossSource::kOffCpu;
    case EBT_LOST_SYSCALL: return LossSource::kSyscall;
    case EBT_LOST_SCHED: return LossSource::kSched;
    default: return LossSource::kOther;
  }
}

}  // namespace

uint64_t LossAccounting::write(format::CaptureWriter& writer, uint64_t t) {
  uint64_t sum = 0;
  if (lost_fd_ >= 0) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu < 1) ncpu = 1;
    bpf_seen_.resize(size_t(EBT_LOST_MAX) * size_t(ncpu));
    std::vector<uint64_t> values(static_cast<size_t>(ncpu));
    for (uint32_t reason = 0; reason < EBT_LOST_MAX; reason++) {
      if (bpf_map_lookup_elem(lost_fd_, &reason, values.data()) != 0) continue;
      for (int cpu = 0; cpu < ncpu; cpu++) {
        uint64_t& seen = bpf_seen_[size_t(reason) * size_t(ncpu) + size_t(cpu)];
        if (values[size_t(cpu)] <= seen) continue;
        uint64_t n = values[size_t(cpu)] - seen;
        seen = values[size_t(cpu)];
        writer.add(LostEvents{t, uint32_t(cpu), loss_source(reason), n});
        written_[loss_source(reason)] += n;
        sum += n;
      }
    }
  }
  for (const auto& [key, n] : user_) {
    if (!n) continue;
    writer.add(LostEvents{t, key.first, key.second, n});
    written_[key.second] += n;
    sum += n;
  }
  user_.clear();
  return sum;
}

uint64_t LossAccounting::total() const {
  uint64_t n = 0;
  for (const auto& [source, k] : written_) n += k;
  return n;
}

std::string LossAccounting::describe() const {
  std::string by;
  for (const auto& [source, n] : written_) {
    if (!n) continue;
    by += (by.empty() ? "" : ", ") + std::string(loss_source_name(source)) + " " + std::to_string(n);
  }
  return std::to_string(total()) + " lost" + (by.empty() ? "" : " (" + by + ")");
}

}  // namespace ebt::record
