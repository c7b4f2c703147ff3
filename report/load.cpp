#include "report/load.h"

#include "format/reader.h"

namespace ebt::report {

std::unique_ptr<Profile> load_profile(const std::string& path,
                                      const symbolize::SymbolizerOptions& options) {
  format::CaptureReader reader(path);
  auto profile = std::make_unique<Profile>(options);
  profile->session = reader.session();
  ProfileBuilder builder(*profile);
  reader.read(builder);
  bool tail_said = false;
  for (const auto& d : reader.damage()) {
    profile->warnings.push_back(path + ": " + format::describe(d));
    if (d.truncated_tail || d.what.rfind("index unusable", 0) == 0) tail_said = true;
  }
  if (!reader.has_index() && !tail_said) {
    profile->warnings.push_back(path + ": capture not finished (no index: recorder killed or still running); read " +
                                std::to_string(reader.blocks().size()) + " complete blocks");
  }
  profile->corrupted = reader.corrupted();
  return profile;
}

}  // namespace ebt::report
