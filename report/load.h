// Loading a capture file into a Profile.
#pragma once

#include <memory>
#include <string>

#include "report/profile.h"

namespace ebt::report {

// Reads every record of `path`. Throws BadInput for files that are not readable
// captures; damage past the header becomes one warning line each in
// Profile::warnings (the rest is still loaded).
std::unique_ptr<Profile> load_profile(const std::string& path,
                                      const symbolize::SymbolizerOptions& options);

}  // namespace ebt::report
