// Every report family, in the order their outputs are written. Adding a
// family is one line here (and its own files).
#include "report/cpu_timeline.h"
#include "report/family.h"
#include "report/l7_family.h"
#include "report/offcpu_family.h"
#include "report/pprof_family.h"
#include "report/sched_family.h"
#include "report/skb_family.h"
#include "report/speedscope_family.h"
#include "report/stacks_family.h"
#include "report/tcp_family.h"

namespace ebt::report {

const std::vector<ReportFamilyEntry>& report_families() {
  static const std::vector<ReportFamilyEntry> families = {
      // name            create                     default (text when nothing else is asked for)
      {"offcpu", make_offcpu_family, false},
      {"cpu-timeline", make_cpu_timeline_family, false},
      {"l7", make_l7_family, false},
      {"skb", make_skb_family, false},
      {"tcp", make_tcp_family, false},
      {"sched", make_sched_family, false},
      {"stacks", make_stacks_family, true},
      {"pprof", make_pprof_family, false},
      {"speedscope", make_speedscope_family, false},
  };
  return families;
}

}  // namespace ebt::report
