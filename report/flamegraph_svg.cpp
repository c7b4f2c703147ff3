#include "report/flamegraph_svg.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "report/utf8.h"

namespace ebt::report {
namespace {

// Stacks can be as deep as a capture says (docs/security.md): nothing here
// recurses per level, the destructor included.
struct Node {
  uint32_t frame = 0;  // 0 for the "all" root
  uint64_t weight = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // by display name: stable order

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node() {
    std::vector<std::unique_ptr<Node>> doomed;
    for (auto& [name, c] : children) doomed.push_back(std::move(c));
    children.clear();
    while (!doomed.empty()) {
      std::unique_ptr<Node> n = std::move(doomed.back());
      doomed.pop_back();
      for (auto& [name, c] : n->children) doomed.push_back(std::move(c));
      n->children.clear();
    }  // n is destroyed here with no children left
  }
};

// SVG is XML in UTF-8: names from the capture are made valid UTF-8 first
// (report/utf8.h), then what XML 1.0 forbids even as text is replaced.
std::string xml_escape(const std::string& raw) {
  const std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters, U+FFFE and U+FFFF are not XML 1.0 characters.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          out += ' ';
        } else if (s.compare(i, 3, "\xef\xbf\xbe") == 0 || s.compare(i, 3, "\xef\xbf\xbf") == 0) {
          out += "\xef\xbf\xbd";
          i += 2;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string with_commas(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

std::string weight_text(uint64_t w, const std::string& unit) {
  if (unit == "ns") {
    double v = static_cast<double>(w);
    if (v >= 1e9) return fmt("%.3f s", v / 1e9);
    if (v >= 1e6) return fmt("%.3f ms", v / 1e6);
    if (v >= 1e3) return fmt("%.1f us", v / 1e3);
    return std::to_string(w) + " ns";
  }
  return with_commas(w) + " " + (w == 1 && unit == "samples" ? "sample" : unit);
}

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

void hsl_to_rgb(double h, double s, double l, int rgb[3]) {
  double c = (1 - std::fabs(2 * l - 1)) * s;
  double hp = h / 60.0;
  double x = c * (1 - std::fabs(std::fmod(hp, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) { r = c; g = x; }
  else if (hp < 2) { r = x; g = c; }
  else if (hp < 3) { g = c; b = x; }
  else if (hp < 4) { g = x; b = c; }
  else if (hp < 5) { r = x; b = c; }
  else { r = c; b = x; }
  double m = l - c / 2;
  rgb[0] = static_cast<int>(std::lround((r + m) * 255));
  rgb[1] = static_cast<int>(std::lround((g + m) * 255));
  rgb[2] = static_cast<int>(std::lround((b + m) * 255));
}

const char* kScript = R"JS(
var svg = document.documentElement, NS = svg.namespaceURI;
var frames = [].slice.call(document.querySelectorAll('g.f'));
var details = document.getElementById('details'), matched = document.getElementById('matched');
var unzoomBtn = document.getElementById('unzoom'), unsearchBtn = document.getElementById('unsearch');
var X0 = +svg.getAttribute('data-x0'), W = +svg.getAttribute('data-w');
frames.forEach(function (g) {
  var r = g.querySelector('rect');
  g.x = +r.getAttribute('x'); g.w = +r.getAttribute('width'); g.y = +r.getAttribute('y');
  g.fill = r.getAttribute('fill'); g.name = g.getAttribute('data-n');
  g.onclick = function () { zoom(g); };
  g.onmouseover = function () { details.textContent = g.querySelector('title').textContent; };
  g.onmouseout = function () { details.textContent = ' '; };
});
function place(g, x, w, show, faded) {
  var r = g.querySelector('rect'), t = g.querySelector('text');
  g.style.display = show ? '' : 'none';
  if (!show) return;
  r.setAttribute('x', x.toFixed(2)); r.setAttribute('width', w.toFixed(2));
  g.style.opacity = faded ? 0.6 : 1;
  var chars = Math.floor((w - 6) / 7);
  t.setAttribute('x', (x + 3).toFixed(2));
  t.textContent = chars < 3 ? '' : g.name.length <= chars ? g.name : g.name.slice(0, chars - 2) + '..';
}
function zoom(z) {
  var scale = W / z.w, eps = 1e-6;
  frames.forEach(function (g) {
    if (g.y >= z.y) {  // the clicked frame and its ancestors (drawn below it)
      var below = g.x <= z.x + eps && g.x + g.w >= z.x + z.w - eps;
      place(g, X0, W, below, g !== z);
    } else {
      var inside = g.x >= z.x - eps && g.x + g.w <= z.x + z.w + eps;
      place(g, X0 + (g.x - z.x) * scale, g.w * scale, inside, false);
    }
  });
  unzoomBtn.style.opacity = 1;
}
function unzoom() {
  frames.forEach(function (g) { place(g, g.x, g.w, true, false); });
  unzoomBtn.style.opacity = 0;
}
function search(term) {
  var re;
  try { re = new RegExp(term); } catch (e) { matched.textContent = 'bad regex'; return; }
  var spans = [];
  frames.forEach(function (g) {
    var hit = g.name !== 'all' && re.test(g.name);
    g.querySelector('rect').setAttribute('fill', hit ? 'rgb(230,0,230)' : g.fill);
    if (hit) spans.push([g.x, g.x + g.w]);
  });
  // Union of matched spans: recursion or nesting must not count twice.
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var total = 0, end = -1;
  spans.forEach(function (s) {
    if (s[0] > end) { total += s[1] - s[0]; end = s[1]; }
    else if (s[1] > end) { total += s[1] - end; end = s[1]; }
  });
  matched.textContent = spans.length ? 'Matched: ' + (100 * total / W).toFixed(1) + '%' : 'No match';
  unsearchBtn.style.opacity = 1;
}
function unsearch() {
  frames.forEach(function (g) { g.querySelector('rect').setAttribute('fill', g.fill); });
  matched.textContent = ' ';
  unsearchBtn.style.opacity = 0;
}
function askSearch() {
  var term = prompt('Search frames (regular expression):', '');
  if (term) search(term);
}
unzoomBtn.onclick = unzoom;
unsearchBtn.onclick = unsearch;
document.getElementById('search').onclick = askSearch;
window.addEventListener('keydown', function (e) {
  if (e.key === 'F3' || ((e.ctrlKey || e.metaKey) && e.key === 'f')) { e.preventDefault(); askSearch(); }
  if (e.key === 'Escape') { unzoom(); unsearch(); }
});
// "flame.svg#s=REGEX" opens with a search applied, "#z=REGEX" zoomed into the
// widest frame matching REGEX (also "?s=", "&z=").
var q = location.search + location.hash;
var m = /[?#&]s=([^&]*)/.exec(q);
if (m) search(decodeURIComponent(m[1]));
m = /[?#&]z=([^&]*)/.exec(q);
if (m) {
  var re = new RegExp(decodeURIComponent(m[1])), best = null;
  frames.forEach(function (g) { if (re.test(g.name) && (!best || g.w > best.w)) best = g; });
  if (best) zoom(best);
}
)JS";

void add_stack(Node& root, const ReportContext& profile, const AggregatedStack& s) {
  Node* n = &root;
  n->weight += s.weight;
  for (uint32_t id : s.frames) {
    auto& child = n->children[folded_name(profile.frames[id])];
    if (!child) {
      child = std::make_unique<Node>();
      child->frame = id;
    }
    child->weight += s.weight;
    n = child.get();
  }
}

// Depth of the frames that will be drawn (wider than min_weight).
int depth_of(const Node& root, double min_weight) {
  int d = 0;
  std::vector<std::pair<const Node*, int>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [n, depth] = todo.back();
    todo.pop_back();
    d = std::max(d, depth);
    for (const auto& [name, c] : n->children)
      if (static_cast<double>(c->weight) >= min_weight) todo.push_back({c.get(), depth + 1});
  }
  return d;
}

// A frame's change of share against the baseline, in points; exactly 0 when
// the shares are equal (so identical inputs give an all-neutral graph).
double share_delta(uint64_t w, uint64_t total, uint64_t b, uint64_t base_total) {
  if (static_cast<unsigned __int128>(w) * base_total == static_cast<unsigned __int128>(b) * total) return 0;
  double now = total ? static_cast<double>(w) / static_cast<double>(total) : 0;
  double was = base_total ? static_cast<double>(b) / static_cast<double>(base_total) : 0;
  return 100.0 * (now - was);
}

const Node* child_of(const Node* n, const std::string& key) {
  if (!n) return nullptr;
  auto it = n->children.find(key);
  return it == n->children.end() ? nullptr : it->second.get();
}

// The largest |change| over the frames of `root` (paired with `base`).
double max_delta(const Node& root, const Node& base, uint64_t total, uint64_t base_total) {
  double m = 0;
  std::vector<std::pair<const Node*, const Node*>> todo{{&root, &base}};
  while (!todo.empty()) {
    auto [n, b] = todo.back();
    todo.pop_back();
    m = std::max(m, std::fabs(share_delta(n->weight, total, b ? b->weight : 0, base_total)));
    for (const auto& [key, c] : n->children) todo.push_back({c.get(), child_of(b, key)});
  }
  return m;
}

struct Writer {
  const ReportContext& profile;
  const FlameGraphOptions& opt;
  std::ostream& out;
  double x0, chart_w, per_unit;
  int bottom;  // y of the root frame's top edge
  uint64_t total;
  const Node* base_root = nullptr;  // differential graph: the baseline's tree
  uint64_t base_total = 0;
  double max_abs = 0;

  // Every frame, parents before children (preorder), without recursion.
  void frames(const Node& root, double x0) {
    struct Todo {
      const Node* n;
      double x;
      int depth;
      const Node* base;
    };
    std::vector<Todo> todo{{&root, x0, 0, base_root}};
    std::vector<Todo> kids;
    while (!todo.empty()) {
      Todo t = todo.back();
      todo.pop_back();
      if (!frame(*t.n, t.x, t.depth, t.base)) continue;
      kids.clear();
      double cx = t.x;
      for (const auto& [key, c] : t.n->children) {
        kids.push_back({c.get(), cx, t.depth + 1, child_of(t.base, key)});
        cx += static_cast<double>(c->weight) * per_unit;
      }
      todo.insert(todo.end(), kids.rbegin(), kids.rend());
    }
  }

  // One frame; false when it is too narrow to draw (and so are its children).
  bool frame(const Node& n, double x, int depth, const Node* base) {
    double w = static_cast<double>(n.weight) * per_unit;
    if (w < opt.min_width_px) return false;
    const FrameInfo* info = n.frame ? &profile.frames[n.frame] : nullptr;
    std::string name = info ? info->name : "all";
    FrameType type = info ? info->type : FrameType::kProcess;
    std::string label = info ? folded_name(*info) : "all";
    double pct = total ? 100.0 * static_cast<double>(n.weight) / static_cast<double>(total) : 0;
    int y = bottom - depth * opt.frame_height;
    std::string title = label + " (" + weight_text(n.weight, opt.unit) + ", " + fmt("%.2f", pct) + "%)";
    if (info && !info->module.empty() && type != FrameType::kProcess) title += " [" + info->module + "]";
    if (info && !info->file.empty()) title += " " + info->file;
    std::string fill = frame_color(name, type), diff_attr;
    if (base_root) {
      uint64_t b = base ? base->weight : 0;
      double d = share_delta(n.weight, total, b, base_total);
      double was = base_total ? 100.0 * static_cast<double>(b) / static_cast<double>(base_total) : 0;
      fill = diff_color(d, max_abs);
      title += " baseline " + fmt("%.2f", was) + "%, change " + (d > 0 ? "+" : "") + fmt("%.2f", d) + " points";
      diff_attr = "\" data-d=\"" + fmt("%.2f", d);
    }
    // Characters that fit; a crafted capture can make a frame wider than the
    // image (weights above their total), so the count is bounded before it
    // becomes an int (NaN compares false and gives none).
    double fit = (w - 6) / 7;
    int chars = fit >= 3 ? static_cast<int>(std::min(std::floor(fit), 1e6)) : 0;
    std::string text;
    if (chars >= 3) text = static_cast<int>(label.size()) <= chars ? label : label.substr(0, chars - 2) + "..";
    out << "<g class=\"f\" data-n=\"" << xml_escape(label) << "\" data-t=\""
        << symbolize::frame_type_name(type) << "\" data-v=\"" << n.weight << diff_attr << "\">"
        << "<title>" << xml_escape(title) << "</title>"
        << "<rect x=\"" << fmt("%.2f", x) << "\" y=\"" << y << "\" width=\"" << fmt("%.2f", w)
        << "\" height=\"" << opt.frame_height - 1 << "\" fill=\"" << fill
        << "\" rx=\"2\"/><text x=\"" << fmt("%.2f", x + 3) << "\" y=\"" << y + opt.frame_height - 5
        << "\">" << xml_escape(text) << "</text></g>\n";
    return true;
  }
};

}  // namespace

std::string frame_color(const std::string& name, FrameType type) {
  // Hue ranges do not overlap, so a frame's type shows at a glance.
  double h0 = 0, h1 = 0, s = 0.8, l = 0.6;
  switch (type) {
    case FrameType::kUser: h0 = 42; h1 = 64; s = 0.85; l = 0.6; break;      // yellow
    case FrameType::kKernel: h0 = 15; h1 = 32; s = 0.85; l = 0.55; break;   // orange
    case FrameType::kInline: h0 = 170; h1 = 190; s = 0.6; l = 0.6; break;   // aqua
    case FrameType::kJit: h0 = 95; h1 = 130; s = 0.55; l = 0.55; break;     // green
    case FrameType::kLua: h0 = 265; h1 = 295; s = 0.55; l = 0.68; break;    // purple
    case FrameType::kMarker: h0 = 205; h1 = 235; s = 0.6; l = 0.62; break;  // blue
    case FrameType::kProcess: h0 = 0; h1 = 0; s = 0.0; l = 0.75; break;     // grey
  }
  uint32_t hash = fnv1a(name);
  double a = (hash & 0xffff) / 65535.0;
  double b = (hash >> 16) / 65535.0;
  int rgb[3];
  hsl_to_rgb(h0 + (h1 - h0) * a, s, std::min(0.9, l + 0.12 * (b - 0.5)), rgb);
  char buf[32];
  std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", rgb[0], rgb[1], rgb[2]);
  return buf;
}

std::string diff_color(double delta, double max_abs) {
  if (delta == 0) return "rgb(250,250,250)";
  double r = max_abs > 0 ? std::min(1.0, std::fabs(delta) / max_abs) : 1.0;
  int v = static_cast<int>(std::lround(235 * (1 - r)));
  char buf[32];
  if (delta > 0) std::snprintf(buf, sizeof buf, "rgb(255,%d,%d)", v, v);
  else std::snprintf(buf, sizeof buf, "rgb(%d,%d,255)", v, v);
  return buf;
}

std::string flamegraph_subtitle(const ReportContext& profile, const StackAggregate& stacks) {
  std::string s;
  if (!profile.session.hostname.empty()) s += "host " + profile.session.hostname + " · ";
  uint64_t start = profile.start_ns(), end = profile.end_ns();
  s += wall_clock_utc(profile.to_realtime(start)) + " + " +
       fmt("%.1f s", static_cast<double>(end - start) / 1e9) + " · ";
  s += weight_text(stacks.total_weight, stacks.unit);
  if (stacks.unit != "samples") s += " in " + with_commas(stacks.total_count) + " events";
  if (profile.lost) s += " · " + with_commas(profile.lost) + " lost";
  return s;
}

void write_flamegraph_svg(const ReportContext& profile, const StackAggregate& stacks,
                          const FlameGraphOptions& options, std::ostream& out) {
  Node root;
  for (const auto& s : stacks.stacks) add_stack(root, profile, s);
  const double xpad = 10;
  const int top = 64, bottom_pad = 34;
  const double chart_w = options.width - 2 * xpad;
  const double per_unit = root.weight ? chart_w / static_cast<double>(root.weight) : 0;
  const int depth = per_unit > 0 ? depth_of(root, options.min_width_px / per_unit) : 0;
  const int height = top + (depth + 1) * options.frame_height + bottom_pad;

  out << "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      << "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << options.width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << options.width << " " << height
      << "\" data-x0=\"" << fmt("%.2f", xpad) << "\" data-w=\"" << fmt("%.2f", chart_w)
      << "\" data-total=\"" << root.weight << "\" data-unit=\"" << xml_escape(stacks.unit) << "\">\n"
      << "<style>text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}"
         "g.f{cursor:pointer}g.f:hover rect{stroke:#000;stroke-width:0.5}"
         ".title{font-size:17px;text-anchor:middle}.sub{font-size:12px;text-anchor:middle;fill:#444}"
         ".btn{cursor:pointer}g.f text{pointer-events:none}</style>\n"
      << "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#f8f8f4\"/>\n"
      << "<text class=\"title\" x=\"" << options.width / 2 << "\" y=\"24\">" << xml_escape(options.title)
      << "</text>\n"
      << "<text class=\"sub\" x=\"" << options.width / 2 << "\" y=\"44\">"
      << xml_escape(options.subtitle) << "</text>\n"
      << "<text id=\"unzoom\" class=\"btn\" x=\"" << xpad << "\" y=\"24\" style=\"opacity:0\">Reset Zoom</text>\n"
      << "<text id=\"search\" class=\"btn\" x=\"" << options.width - xpad - 50 << "\" y=\"24\">Search</text>\n"
      << "<text id=\"unsearch\" class=\"btn\" x=\"" << options.width - xpad - 150
      << "\" y=\"24\" style=\"opacity:0\">Reset Search</text>\n"
      << "<text id=\"matched\" x=\"" << options.width - xpad - 160 << "\" y=\"" << height - 12
      << "\"> </text>\n"
      << "<text id=\"details\" x=\"" << xpad << "\" y=\"" << height - 12 << "\"> </text>\n"
      << "<g id=\"frames\">\n";
  if (root.weight > 0) {
    Writer w{profile, options, out, xpad, chart_w, per_unit,
             top + depth * options.frame_height, root.weight};
    Node base;
    if (options.baseline && options.baseline_profile) {
      for (const auto& s : options.baseline->stacks) add_stack(base, *options.baseline_profile, s);
      w.base_root = &base;
      w.base_total = base.weight;
      w.max_abs = max_delta(root, base, root.weight, base.weight);
    }
    w.frames(root, xpad);
  }
  out << "</g>\n<script type=\"text/ecmascript\"><![CDATA[" << kScript << "]]></script>\n</svg>\n";
}

}  // namespace ebt::report
