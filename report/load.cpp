#include "report/load.h"

#include "format/reader.h"
#include "unwind/offline_unwinder.h"

namespace ebt::report {

std::unique_ptr<Profile> load_profile(const std::string& path,
                                      const symbolize::SymbolizerOptions& options) {
  format::CaptureReader reader(path);
  auto profile = std::make_unique<Profile>(options);
  profile->session = reader.session();
  ProfileBuilder builder(*profile);
  // Raw stacks (--keep-stack-bytes) are unwound while they are read, with the
  // mappings and unwind tables the recorder wrote (tables come last): read
  // those first.
  std::unique_ptr<unwind::OfflineUnwinder> unwinder;
  uint64_t snapshot_blocks = 0;
  for (const auto& b : reader.blocks())
    if (b.kind_mask & format::kind_bit(format::RecordKind::kStackSnapshots)) snapshot_blocks++;
  if (snapshot_blocks) {
    unwinder = std::make_unique<unwind::OfflineUnwinder>();
    struct TableCollector : format::RecordVisitor {
      unwind::OfflineUnwinder* u;
      void on(const Mapping& m) override { u->add(m); }
      void on(const UnwindTable& t) override { u->add(t); }
    } collector;
    collector.u = unwinder.get();
    format::ReadOptions only;
    only.kinds = format::kind_bit(format::RecordKind::kMapping) | format::kind_bit(format::RecordKind::kUnwindTable);
    reader.read(collector, only);
    builder.set_unwinder(unwinder.get());
  }
  reader.read(builder);
  reader.embedded_kind_names();  // checks the schema block too: its damage is damage
  profile->raw_stacks = builder.snapshots;
  profile->raw_stacks_to_end = builder.snapshots_to_end;
  if (unwinder) {
    if (unwinder->tables() == 0)
      profile->warnings.push_back(path + ": raw user stacks but no unwind tables (recording not finished?): "
                                  "user stacks show their sampled address only");
    for (const auto& p : unwinder->problems()) profile->warnings.push_back(path + ": " + p);
  }
  for (const auto& w : reader.warnings()) profile->warnings.push_back(path + ": " + w);
  profile->corrupted = reader.corrupted();
  return profile;
}

}  // namespace ebt::report
