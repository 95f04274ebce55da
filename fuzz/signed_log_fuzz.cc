// ReadSignedLog and VerifySiteHistory: the records of a signed log (a
// vault's audit log, a namespace's history) as whoever runs the storage may
// have written them, read by `drvault audit`, `drvault history` and `drctl
// verify-history`. Input: records split at "\xff\xfeREC", stored as
// history/0000000001.. beside two snapshots. Nothing may crash, and a
// reading pinned to the key the unpinned reading found agrees with it.
#include "catalog/history.h"
#include "catalog/signed_log.h"
#include "catalog/store/testing/mem_store.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  dr::MemStore store;
  size_t n = 0;
  for (std::string_view record : dr::fuzz::Split(in, "\xff\xfeREC")) {
    if (++n > 64) break;
    char key[32];
    std::snprintf(key, sizeof key, "history/%010zu", n);
    (void)store.Put(key, std::string(record));
  }
  (void)store.Put("snapshots/" + std::string(32, 'a'), "a snapshot");
  (void)store.Put("snapshots/" + std::string(32, 'b'), "another");
  const dr::LogHead head{n, dr::kNoPredecessor};
  auto unpinned = dr::ReadSignedLog(store, dr::HistoryLayout("hr"), "", &head);
  FUZZ_CHECK(unpinned.ok());
  auto pinned = dr::ReadSignedLog(store, dr::HistoryLayout("hr"), unpinned->key, &head);
  FUZZ_CHECK(pinned.ok());
  FUZZ_CHECK(pinned->problems == unpinned->problems);
  FUZZ_CHECK(pinned->entries.size() == unpinned->entries.size());
  FUZZ_CHECK(pinned->entries.size() <= n);
  auto site = dr::VerifySiteHistory(store, "", "fuzz", "", nullptr, std::chrono::milliseconds(0));
  FUZZ_CHECK(site.ok());
  if (site->problems.empty()) FUZZ_CHECK(site->present == 0 || !site->log.entries.empty());
  return 0;
}
