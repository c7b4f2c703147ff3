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
  for (const auto& d : reader.damage()) {
    std::string line = path + ": damaged at byte " + std::to_string(d.offset);
    if (d.block >= 0) line += " (block " + std::to_string(d.block) + ")";
    line += ": " + d.what;
    if (d.bytes != 0) line += "; " + std::to_string(d.bytes) + " bytes skipped";
    if (d.records_lost != 0) line += ", " + std::to_string(d.records_lost) + " records lost";
    profile->warnings.push_back(std::move(line));
  }
  return profile;
}

}  // namespace ebt::report
