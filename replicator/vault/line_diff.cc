#include "replicator/vault/line_diff.h"

#include <algorithm>
#include <cstdint>

namespace dr {

namespace {

// The lines of `text`, each with its '\n' (the last one may have none).
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return lines;
}

// Edits turning a[0, n) into b[0, m), appended to `out`.
void DiffMiddle(const std::string_view* a, size_t n, const std::string_view* b, size_t m,
                std::vector<DiffLine>* out) {
  if (n == 0 || m == 0 || (n + 1) * (m + 1) > kMaxDiffCells) {
    for (size_t i = 0; i < n; i++) out->push_back({DiffOp::kRemoved, a[i]});
    for (size_t j = 0; j < m; j++) out->push_back({DiffOp::kAdded, b[j]});
    return;
  }
  // lcs[i * (m + 1) + j]: the length of the longest common subsequence of
  // a[i, n) and b[j, m). Filled from the end, so the walk below goes forward.
  const size_t w = m + 1;
  std::vector<uint32_t> lcs((n + 1) * w, 0);
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i * w + j] = a[i] == b[j] ? lcs[(i + 1) * w + j + 1] + 1
                                    : std::max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out->push_back({DiffOp::kSame, a[i++]});
      j++;
    } else if (j == m || (i < n && lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
      out->push_back({DiffOp::kRemoved, a[i++]});
    } else {
      out->push_back({DiffOp::kAdded, b[j++]});
    }
  }
}

// "-3,7": a range of `count` lines from line `first` (1-based); an empty
// range names the line before it, as diff -u does.
std::string Range(char sign, size_t first, size_t count) {
  return std::string(1, sign) + std::to_string(count == 0 ? first - 1 : first) + "," +
         std::to_string(count);
}

void AppendLine(char prefix, std::string_view line, std::string* out) {
  out->push_back(prefix);
  out->append(line);
  if (line.empty() || line.back() != '\n') out->append("\n\\ No newline at end of file\n");
}

}  // namespace

std::vector<DiffLine> DiffLines(std::string_view a, std::string_view b) {
  const std::vector<std::string_view> al = SplitLines(a), bl = SplitLines(b);
  size_t head = 0;
  while (head < al.size() && head < bl.size() && al[head] == bl[head]) head++;
  size_t tail = 0;
  while (tail < al.size() - head && tail < bl.size() - head &&
         al[al.size() - 1 - tail] == bl[bl.size() - 1 - tail])
    tail++;
  std::vector<DiffLine> out;
  out.reserve(std::max(al.size(), bl.size()));
  for (size_t i = 0; i < head; i++) out.push_back({DiffOp::kSame, al[i]});
  DiffMiddle(al.data() + head, al.size() - head - tail, bl.data() + head, bl.size() - head - tail,
             &out);
  for (size_t i = al.size() - tail; i < al.size(); i++) out.push_back({DiffOp::kSame, al[i]});
  return out;
}

std::string UnifiedDiff(std::string_view a, std::string_view b, const std::string& a_label,
                        const std::string& b_label, size_t context) {
  if (a == b) return "";
  const std::vector<DiffLine> lines = DiffLines(a, b);
  std::string out = "--- " + a_label + "\n+++ " + b_label + "\n";
  // old_no[k] / new_no[k]: the 1-based line numbers in a and b at which
  // lines[k] is, or would be (for a line the other text lacks).
  std::vector<size_t> old_no(lines.size() + 1), new_no(lines.size() + 1);
  old_no[0] = new_no[0] = 1;
  for (size_t k = 0; k < lines.size(); k++) {
    old_no[k + 1] = old_no[k] + (lines[k].op != DiffOp::kAdded);
    new_no[k + 1] = new_no[k] + (lines[k].op != DiffOp::kRemoved);
  }
  size_t k = 0;
  while (k < lines.size()) {
    // The next change, and the hunk around it: changes closer than twice the
    // context share one hunk, so no unchanged line is printed twice.
    while (k < lines.size() && lines[k].op == DiffOp::kSame) k++;
    if (k == lines.size()) break;
    const size_t begin = k > context ? k - context : 0;
    size_t end = k;  // one past the last change of the hunk
    for (size_t j = k; j < lines.size(); j++) {
      if (lines[j].op == DiffOp::kSame) {
        if (j - end >= 2 * context) break;
      } else {
        end = j + 1;
      }
    }
    const size_t stop = std::min(lines.size(), end + context);
    out += "@@ " + Range('-', old_no[begin], old_no[stop] - old_no[begin]) + " " +
           Range('+', new_no[begin], new_no[stop] - new_no[begin]) + " @@\n";
    for (size_t j = begin; j < stop; j++) {
      const char prefix = lines[j].op == DiffOp::kSame      ? ' '
                          : lines[j].op == DiffOp::kRemoved ? '-'
                                                            : '+';
      AppendLine(prefix, lines[j].text, &out);
    }
    k = stop;
  }
  return out;
}

}  // namespace dr
