#include "record/leaf_repair.h"

#include <algorithm>
#include <cstdio>

namespace ebt::record {
namespace {

// Leaf frames unwound at most before the chain's slot must be reached
// (pthread_cond_wait -> __futex_abstimed_wait_common -> ... is 3 deep).
constexpr size_t kMaxLeafFrames = 16;

}  // namespace

void LeafRepairStats::add(const LeafRepairStats& o) {
  stacks += o.stacks;
  repaired += o.repaired;
  frames_added += o.frames_added;
  intact += o.intact;
  no_cfi += o.no_cfi;
  unknown_object += o.unknown_object;
  short_copy += o.short_copy;
  not_frame += o.not_frame;
  max_reach = std::max(max_reach, o.max_reach);
  reach_sum += o.reach_sum;
}

std::string LeafRepairStats::describe() const {
  char buf[512];
  std::snprintf(buf, sizeof buf, "leaf repair: %llu/%llu stacks repaired", (unsigned long long)repaired,
                (unsigned long long)stacks);
  std::string s = buf;
  if (repaired) {
    std::snprintf(buf, sizeof buf, " (+%.2f frames, %llu stack bytes at most)", double(frames_added) / double(repaired),
                  (unsigned long long)max_reach);
    s += buf;
  }
  auto part = [&](uint64_t n, const char* what) {
    if (n) s += ", " + std::to_string(n) + " " + what;
  };
  part(intact, "intact");
  part(no_cfi, "leaf without CFI (kept)");
  part(unknown_object, "leaf in no known object (kept)");
  part(short_copy, "stack copy too short (kept)");
  part(not_frame, "rbp not a frame pointer (CFI frames only)");
  return s;
}

void LeafRepair::repair(const UnwindInput& in, std::span<const uint8_t> stack, std::span<const uint64_t> fp,
                        std::vector<uint64_t>* out, size_t max_frames) {
  auto keep = [&] { out->insert(out->end(), fp.begin(), fp.begin() + std::min(fp.size(), max_frames)); };
  if (fp.empty() || in.ip == 0 || fp[0] != in.ip) return keep();
  stats_.stacks++;
  bool leaf_cfi = false;
  // The chain's second entry is the return address at rbp + 8: it belongs to
  // the first frame whose caller's sp (the CFA) is rbp + 16. The walk can end
  // there (nothing above it is used); past it (rbp no frame pointer) it goes on.
  const uint64_t slot_sp = in.bp + 16;
  const uint64_t stop_sp = in.bp >= in.sp ? slot_sp : 0;
  if (!unwinder_.walk_regs(in, stack, &frames_, kMaxLeafFrames, &leaf_cfi, /*force_libdw=*/false, stop_sp)) {
    stats_.unknown_object++;
    return keep();
  }
  if (!leaf_cfi) {
    stats_.no_cfi++;
    return keep();
  }
  size_t k = 0;
  bool passed = false;
  for (; k + 1 < frames_.size(); k++) {
    const auto& next = frames_[k + 1];
    if (next.sp == slot_sp && in.bp >= in.sp) break;
    if (next.sp == 0 || next.sp > slot_sp || in.bp < in.sp) {
      passed = true;
      break;
    }
    // Every step before the slot has to come from CFI, not libdw's guess.
    if (!unwinder_.has_cfi_last(next.pc - 1)) {
      stats_.no_cfi++;
      return keep();
    }
  }
  if (!passed && k + 1 < frames_.size()) {
    if (fp.size() > 1 && frames_[k + 1].pc != fp[1]) {
      // Same slot, another value: cannot be (the copy and the chain are taken together).
      stats_.not_frame++;
      return keep();
    }
    if (k == 0) {
      stats_.intact++;
      return keep();
    }
    stats_.repaired++;
    stats_.frames_added += k;
    uint64_t reach = slot_sp - in.sp;
    stats_.max_reach = std::max(stats_.max_reach, reach);
    stats_.reach_sum += reach;
    size_t start = out->size();
    for (size_t i = 0; i <= k && out->size() - start < max_frames; i++) out->push_back(frames_[i].pc);
    for (size_t i = 1; i < fp.size() && out->size() - start < max_frames; i++) out->push_back(fp[i]);
    return;
  }
  if (passed) {
    // rbp points nowhere in the frames unwound: the chain read garbage. Keep
    // the frames the CFI gives (while it covers them), not the chain.
    stats_.not_frame++;
    size_t start = out->size();
    // frame i comes from frame i - 1's CFI (the leaf's is known to exist)
    for (size_t i = 0; i < frames_.size() && out->size() - start < max_frames; i++) {
      if (i >= 2 && !unwinder_.has_cfi_last(frames_[i - 1].pc - 1)) break;
      out->push_back(frames_[i].pc);
    }
    return;
  }
  stats_.short_copy++;
  keep();
}

}  // namespace ebt::record
