// The packet family (record --skb): drops, paths and hop latency (--skb, text
// or json) and the packets on the --trace timeline.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_skb_family();

}  // namespace ebt::report
