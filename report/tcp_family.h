// The TCP family (record --tcp): the connection table, --by groups and
// percentiles (report --tcp; text, csv or json), the connections as tracks on
// --trace, and OpenTelemetry spans (--otlp FILE). docs/tcp.md.
#pragma once

#include <memory>

#include "report/family.h"

namespace ebt::report {

std::unique_ptr<ReportFamily> make_tcp_family();

}  // namespace ebt::report
