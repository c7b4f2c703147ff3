// The request family (record --l7 / --syscalls): Redis and HTTP/1.x requests
// rebuilt from syscall payloads (report/l7/), as latency tables (--latency,
// --by) and as slices on the --trace timeline.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_l7_family();

}  // namespace ebt::report
