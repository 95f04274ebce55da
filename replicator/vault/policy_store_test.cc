// PolicyStore (policy_store.h): applying, removing, listing and diffing the
// policies of a vault, and the history that records every change: what is
// applied is kept verbatim, a repeat is no change, bad text changes nothing
// and is reported as FILE:LINE:COLUMN, and damage (a torn history line, a
// stored file that no longer parses) is reported without hiding the rest.
#include "replicator/vault/policy_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "tests/test_util.h"

namespace dr {
namespace {

// `name` in namespace `ns`, with RPO `rpo` (line 7).
std::string PolicyText(const std::string& name, const std::string& ns = "finance",
                       const std::string& rpo = "2h") {
  return "# " + name + ": applied by the store tests\nname: " + name + "\nnamespace: " + ns +
         "\nsources:\n  paths: [/srv/" + name + "]\nschedule: { every: 1h }\nrpo: " + rpo + "\n";
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  PolicyStoreTest() : dir_("policy-store"), store_(dir_.path()) {}

  std::vector<std::string> ListedNames() {
    auto listing = store_.List();
    EXPECT_TRUE(listing.ok()) << listing.status().ToString();
    std::vector<std::string> names;
    if (listing.ok())
      for (const auto& a : listing->policies) names.push_back(a.policy.name);
    return names;
  }

  test::TempDir dir_;
  PolicyStore store_;
};

TEST_F(PolicyStoreTest, ApplyNewThenUnchangedThenChanged) {
  auto first = store_.Apply("fin.yaml", PolicyText("fin"), "alice");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->name, "fin");
  EXPECT_TRUE(first->changed);
  EXPECT_TRUE(first->created);
  EXPECT_EQ(test::ReadFile(dir_ / "policies/fin.yaml"), PolicyText("fin"));

  auto again = store_.Apply("fin.yaml", PolicyText("fin"), "bob");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->changed);
  EXPECT_FALSE(again->created);
  auto history = store_.History();
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->changes.size(), 1u) << "a repeat must not be recorded";

  auto changed = store_.Apply("fin.yaml", PolicyText("fin", "finance", "3h"), "carol");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_TRUE(changed->changed);
  EXPECT_FALSE(changed->created);
  EXPECT_EQ(test::ReadFile(dir_ / "policies/fin.yaml"), PolicyText("fin", "finance", "3h"));

  auto got = store_.Get("fin");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->rpo_s, 3 * 3600);
  EXPECT_EQ(got->source_text, PolicyText("fin", "finance", "3h"));
}

TEST_F(PolicyStoreTest, HistoryRecordsWhoWhatAndWhenInOrder) {
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a"), "alice").ok());
  ASSERT_TRUE(store_.Apply("b.yaml", PolicyText("b", "hr"), "bob").ok());
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a", "finance", "4h"), "carol").ok());
  ASSERT_TRUE(store_.Remove("b", "dave").ok());

  auto history = store_.History();
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_TRUE(history->warnings.empty());
  const auto& c = history->changes;
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].who, "alice");
  EXPECT_EQ(c[0].action, "apply");
  EXPECT_EQ(c[0].policy, "a");
  EXPECT_EQ(c[0].ns, "finance");
  EXPECT_EQ(c[0].text, PolicyText("a"));
  EXPECT_EQ(c[0].previous, "");
  EXPECT_EQ(c[1].who, "bob");
  EXPECT_EQ(c[1].policy, "b");
  EXPECT_EQ(c[1].ns, "hr");
  EXPECT_EQ(c[2].who, "carol");
  EXPECT_EQ(c[2].text, PolicyText("a", "finance", "4h"));
  EXPECT_EQ(c[2].previous, PolicyText("a"));
  EXPECT_EQ(c[3].who, "dave");
  EXPECT_EQ(c[3].action, "remove");
  EXPECT_EQ(c[3].policy, "b");
  EXPECT_EQ(c[3].ns, "hr");
  EXPECT_EQ(c[3].text, "");
  EXPECT_EQ(c[3].previous, PolicyText("b", "hr"));
  for (size_t i = 1; i < c.size(); i++) EXPECT_LE(c[i - 1].time_ns, c[i].time_ns);
  EXPECT_GT(c[0].time_ns, int64_t{1'600'000'000} * 1'000'000'000);

  auto only_a = store_.History("a");
  ASSERT_TRUE(only_a.ok());
  ASSERT_EQ(only_a->changes.size(), 2u);
  EXPECT_EQ(only_a->changes[0].who, "alice");
  EXPECT_EQ(only_a->changes[1].who, "carol");

  // The list shows who applied each policy last.
  auto listing = store_.List();
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->policies.size(), 1u);
  EXPECT_EQ(listing->policies[0].applied_by, "carol");
  EXPECT_EQ(listing->policies[0].applied_ns, c[2].time_ns);
}

TEST_F(PolicyStoreTest, RemoveDeletesTheAppliedPolicy) {
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a"), "alice").ok());
  ASSERT_TRUE(store_.Apply("b.yaml", PolicyText("b"), "alice").ok());
  ASSERT_TRUE(store_.Remove("a", "bob").ok());
  struct stat st;
  EXPECT_NE(::stat((dir_ / "policies/a.yaml").c_str(), &st), 0);
  EXPECT_EQ(ListedNames(), std::vector<std::string>{"b"});
  auto get = store_.Get("a");
  ASSERT_FALSE(get.ok());
  EXPECT_TRUE(get.status().IsNotFound());
}

TEST_F(PolicyStoreTest, RemovingWhatIsNotAppliedIsNotFound) {
  // Before anything was applied (no policies directory) and after.
  Status s = store_.Remove("ghost", "alice");
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(s.message(), "no policy ghost is applied at this vault");
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a"), "alice").ok());
  s = store_.Remove("ghost", "alice");
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  auto history = store_.History();
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->changes.size(), 1u);
}

TEST_F(PolicyStoreTest, BadYamlIsReportedByFileAndLineAndChangesNothing) {
  const std::string bad =
      "name: fin\nnamespace: finance\nsources:\n  paths: [srv]\nschedule: { every: 1h }\n";
  auto r = store_.Apply("/etc/drbackup/fin.yaml", bad, "alice");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("/etc/drbackup/fin.yaml:4:", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("sources.paths[0]"), std::string::npos);
  EXPECT_TRUE(ListedNames().empty());
  auto history = store_.History();
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->changes.empty());
}

TEST_F(PolicyStoreTest, PolicyWithoutNamespaceIsRefused) {
  const std::string text = "name: fin\nsources:\n  paths: [/srv]\nschedule: { every: 1h }\n";
  auto r = store_.Apply("fin.yaml", text, "alice");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "fin.yaml: namespace: required for a policy applied at a vault");
  EXPECT_TRUE(ListedNames().empty());
}

TEST_F(PolicyStoreTest, UnsafeNamesAreRefused) {
  for (const std::string name : {"../agents", "a/b", "", ".lock", "history.jsonl/x"}) {
    EXPECT_EQ(store_.Remove(name, "alice").code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store_.AppliedText(name).status().code(), Code::kInvalidArgument) << name;
  }
}

TEST_F(PolicyStoreTest, TornHistoryLineIsSkippedAndTheNextAppendStartsFresh) {
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a"), "alice").ok());
  // A crash in the middle of the second append.
  {
    std::string history = test::ReadFile(dir_ / "policies/history.jsonl");
    test::WriteFile(dir_ / "policies/history.jsonl", history + "{\"time_ns\": 17, \"who\": \"bo");
  }
  auto history = store_.History();
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->changes.size(), 1u);
  ASSERT_EQ(history->warnings.size(), 1u);
  EXPECT_NE(history->warnings[0].find("history.jsonl:2: skipped: incomplete last line"),
            std::string::npos)
      << history->warnings[0];

  ASSERT_TRUE(store_.Apply("b.yaml", PolicyText("b"), "carol").ok());
  history = store_.History();
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->changes.size(), 2u);
  EXPECT_EQ(history->changes[1].who, "carol");
  EXPECT_EQ(history->warnings.size(), 1u);
  EXPECT_EQ(ListedNames(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(PolicyStoreTest, CorruptedPolicyFileIsReportedWithoutHidingTheOthers) {
  ASSERT_TRUE(store_.Apply("a.yaml", PolicyText("a"), "alice").ok());
  ASSERT_TRUE(store_.Apply("b.yaml", PolicyText("b"), "alice").ok());
  ASSERT_TRUE(store_.Apply("c.yaml", PolicyText("c"), "alice").ok());
  test::WriteFile(dir_ / "policies/b.yaml", "name: b\nnamespace: [\n");

  auto listing = store_.List();
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  ASSERT_EQ(listing->policies.size(), 2u);
  EXPECT_EQ(listing->policies[0].policy.name, "a");
  EXPECT_EQ(listing->policies[1].policy.name, "c");
  ASSERT_EQ(listing->errors.size(), 1u);
  EXPECT_EQ(listing->errors[0].rfind(dir_ / "policies/b.yaml:", 0), 0u) << listing->errors[0];

  // Its text can still be shown, and replaced.
  auto text = store_.AppliedText("b");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "name: b\nnamespace: [\n");
  EXPECT_FALSE(store_.Get("b").ok());
  auto fixed = store_.Apply("b.yaml", PolicyText("b"), "bob");
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_TRUE(fixed->changed);
  EXPECT_EQ(ListedNames(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(PolicyStoreTest, DiffShowsTheChangedLine) {
  ASSERT_TRUE(store_.Apply("fin.yaml", PolicyText("fin"), "alice").ok());
  auto diff = store_.Diff("fin", PolicyText("fin", "finance", "3h"), "new/fin.yaml");
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_EQ(*diff,
            "--- applied fin\n"
            "+++ new/fin.yaml\n"
            "@@ -4,4 +4,4 @@\n"
            " sources:\n"
            "   paths: [/srv/fin]\n"
            " schedule: { every: 1h }\n"
            "-rpo: 2h\n"
            "+rpo: 3h\n");
  auto same = store_.Diff("fin", PolicyText("fin"), "fin.yaml");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, "");
  EXPECT_TRUE(store_.Diff("ghost", PolicyText("ghost"), "ghost.yaml").status().IsNotFound());
}

TEST_F(PolicyStoreTest, ConcurrentChangesAreAllRecorded) {
  // Each thread stands for an admin; the lock keeps their history lines
  // whole and every change recorded.
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kEach; i++) {
        auto r = store_.Apply("p.yaml",
                              PolicyText("p", "finance", std::to_string(t * 100 + i + 2) + "h"),
                              "admin" + std::to_string(t));
        EXPECT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto history = store_.History();
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->warnings.empty());
  ASSERT_EQ(history->changes.size(), size_t{kThreads * kEach});
  // Each change replaced the one recorded before it.
  for (size_t i = 1; i < history->changes.size(); i++)
    EXPECT_EQ(history->changes[i].previous, history->changes[i - 1].text) << i;
}

}  // namespace
}  // namespace dr
