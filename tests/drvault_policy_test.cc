// `drvault policy` as an admin uses it, through the real binary: apply,
// list, show, diff, remove and history against one vault's state, the
// history naming the admin ($SUDO_USER), and a batch with one bad file
// applying nothing and failing with one line naming FILE:LINE.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/test_util.h"

namespace dr {
namespace {

std::string DrvaultPolicyText(const std::string& name, const std::string& ns,
                              const std::string& rpo) {
  return "# " + name + "\nname: " + name + "\nnamespace: " + ns +
         "\nagents: [fs-01]\nsources:\n  paths: [/srv/" + name +
         "]\nschedule: { every: 1h }\nrpo: " + rpo + "\n";
}

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

class DrvaultPolicy : public ::testing::Test {
 protected:
  DrvaultPolicy() : dir_("drvault-policy"), config_(dir_ / "vault.yaml") {
    test::WriteFile(config_, "listen: tcp://127.0.0.1:7499\nstate: " + dir_.path() +
                                 "/state\nrepository: dir://" + dir_.path() + "/repo\n");
    auto r = Run({"init"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  test::CommandResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {DRVAULT_PATH, "-c", config_};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::RunProgram(argv);
  }
  // As admin `who` behind sudo.
  test::CommandResult RunAs(const std::string& who, const std::string& args) {
    return test::RunShell("SUDO_USER=" + who + " '" + DRVAULT_PATH + "' -c '" + config_ + "' " +
                          args);
  }
  std::string Write(const std::string& file, const std::string& text) {
    test::WriteFile(dir_ / file, text);
    return dir_ / file;
  }

  test::TempDir dir_;
  const std::string config_;
};

TEST_F(DrvaultPolicy, ApplyListShowDiffRemoveHistory) {
  const std::string fin = Write("fin.yaml", DrvaultPolicyText("fin", "finance", "2h"));
  const std::string erp = Write("erp.yaml", DrvaultPolicyText("erp", "erp", "6h"));

  auto r = RunAs("alice", "policy apply " + fin + " " + erp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "applied fin (new)\napplied erp (new)\n");
  r = RunAs("alice", "policy apply " + fin);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fin unchanged\n");

  r = Run({"policy", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Lines(r.out), 3u) << r.out;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  for (const char* column : {"NAMESPACE", "AGENTS", "SCHEDULE", "RPO", "APPLIED-AT", "BY"})
    EXPECT_NE(r.out.find(column), std::string::npos) << column;
  const std::string fin_row = r.out.substr(r.out.find("\nfin ") + 1);
  EXPECT_NE(fin_row.find("finance"), std::string::npos) << r.out;
  EXPECT_NE(fin_row.find("fs-01"), std::string::npos) << r.out;
  EXPECT_NE(fin_row.find("every 1h"), std::string::npos) << r.out;
  EXPECT_NE(fin_row.find("2h"), std::string::npos) << r.out;
  EXPECT_NE(fin_row.find("alice"), std::string::npos) << r.out;

  r = Run({"policy", "show", "fin"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, DrvaultPolicyText("fin", "finance", "2h"));

  r = Run({"policy", "diff", fin});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no differences\n");
  Write("fin.yaml", DrvaultPolicyText("fin", "finance", "3h"));
  r = Run({"policy", "diff", fin});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("--- applied fin\n+++ " + fin + "\n@@ ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\n-rpo: 2h\n+rpo: 3h\n"), std::string::npos) << r.out;

  r = RunAs("bob", "policy apply " + fin);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "applied fin (changed)\n");
  r = RunAs("bob", "policy remove erp");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "removed erp\n");
  r = RunAs("bob", "policy remove erp");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "drvault: no policy erp is applied at this vault\n");
  r = Run({"policy", "show", "erp"});
  EXPECT_EQ(r.exit_code, 1);

  r = Run({"policy", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 2u) << r.out;
  EXPECT_NE(r.out.find("bob"), std::string::npos) << r.out;

  r = Run({"policy", "history"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Lines(r.out), 5u) << r.out;
  std::vector<std::string> rows;
  for (size_t pos = 0; pos < r.out.size();) {
    const size_t end = r.out.find('\n', pos);
    rows.push_back(r.out.substr(pos, end - pos));
    pos = end + 1;
  }
  const std::vector<std::vector<std::string>> expected = {{"TIME", "WHO", "ACTION", "POLICY"},
                                                          {"alice", "apply", "fin"},
                                                          {"alice", "apply", "erp"},
                                                          {"bob", "apply", "fin"},
                                                          {"bob", "remove", "erp"}};
  for (size_t i = 0; i < expected.size(); i++)
    for (const std::string& cell : expected[i])
      EXPECT_NE(rows[i].find(cell), std::string::npos) << rows[i] << " lacks " << cell;

  r = Run({"policy", "history", "fin", "--show-text"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("    rpo: 2h\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    rpo: 3h\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("erp"), std::string::npos) << r.out;
}

TEST_F(DrvaultPolicy, BatchWithOneBadFileAppliesNothing) {
  const std::string good = Write("good.yaml", DrvaultPolicyText("good", "finance", "2h"));
  // Line 5: a relative path.
  const std::string bad = Write("bad.yaml",
                                "name: bad\nnamespace: hr\nsources:\n  paths:\n    - srv/hr\n"
                                "schedule: { every: 1h }\n");
  auto r = RunAs("alice", "policy apply " + good + " " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("drvault: " + bad + ":5:", 0), 0u) << r.err;

  r = Run({"policy", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no policies applied at this vault\n");
  r = Run({"policy", "history"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no policy changes recorded\n");

  // A policy without a namespace is a bad file too.
  const std::string local =
      Write("local.yaml", "name: local\nsources:\n  paths: [/srv]\nschedule: { every: 1h }\n");
  r = RunAs("alice", "policy apply " + good + " " + local);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "drvault: " + local + ": namespace: required for a policy applied at a vault\n");
  r = Run({"policy", "list"});
  EXPECT_EQ(r.out, "no policies applied at this vault\n");
}

TEST_F(DrvaultPolicy, ListReportsACorruptedPolicyAndShowsTheOthers) {
  const std::string a = Write("a.yaml", DrvaultPolicyText("a", "finance", "2h"));
  const std::string b = Write("b.yaml", DrvaultPolicyText("b", "finance", "2h"));
  ASSERT_EQ(RunAs("alice", "policy apply " + a + " " + b).exit_code, 0);
  test::WriteFile(dir_ / "state/policies/a.yaml", "name: a\nnamespace: [\n");
  auto r = Run({"policy", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("\nb "), std::string::npos) << r.out;
  EXPECT_EQ(r.err.rfind("drvault: " + dir_.path() + "/state/policies/a.yaml:", 0), 0u) << r.err;
}

}  // namespace
}  // namespace dr
