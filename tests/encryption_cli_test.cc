// drctl with an encrypted repository, end to end: init --encrypt, backups,
// restore, check --read-data, forget and prune on ciphertext; key add, list,
// export, rotate and remove; a copy of the store restored on a "new machine"
// with only the escrowed master key; every wrong key one line, exit 1,
// nothing changed.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace dr {
namespace {

using test::RunDrctl;
namespace fs = std::filesystem;

constexpr char kMarker[] = "DEPARTMENT-OF-FINANCE-CONFIDENTIAL";

std::vector<std::string> StoreFiles(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool AnyFileHolds(const std::string& root, const std::string& needle) {
  for (const auto& f : StoreFiles(root)) {
    if (test::ReadFile(f).find(needle) != std::string::npos) return true;
  }
  return false;
}

void MakeSource(const std::string& src, int round) {
  fs::create_directories(src + "/ledgers/2026");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += std::string(kMarker) + " row " + std::to_string(i) + "\n";
  test::WriteFile(src + "/ledgers/2026/salaries-of-named-staff.csv", text);
  test::WriteFile(src + "/ledgers/round", std::to_string(round));
  test::WriteFile(src + "/scan.bin", test::RandomBytes(3 << 20, 40 + round));
}

TEST(EncryptionCli, BackupRestoreCheckPruneAndKeysOnCiphertext) {
  test::TempDir dir("enc-cli");
  const std::string repo = dir / "repo", src = dir / "src", pass = dir / "pass";
  test::WriteFile(pass, "city hall vault 2026\n");
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "--passphrase-file", pass, "init", "--encrypt"}).exit_code,
            0);
  // Without a key, a wrong one, or a second init: one line, exit 1.
  const auto files_before = StoreFiles(repo);
  test::WriteFile(dir / "wrong", "city hall vault 2025\n");
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"-r", repo, "snapshots"}, "is encrypted and no key was given"},
           {{"-r", repo, "--passphrase-file", dir / "wrong", "backup", src}, "wrong passphrase"},
           {{"-r", repo, "--key-file", dir / "nothing.key", "snapshots"}, "nothing.key"},
           {{"-r", repo, "--passphrase-file", pass, "init", "--encrypt"}, "already holds"},
           {{"-r", repo, "key", "list"}, "no key was given"}}) {
    auto r = RunDrctl(args);
    EXPECT_EQ(r.exit_code, 1) << expected << r.out;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(StoreFiles(repo), files_before);

  std::vector<std::string> ids;
  for (int round = 0; round < 3; ++round) {
    MakeSource(src, round);
    auto b = RunDrctl({"--json", "-r", repo, "--passphrase-file", pass, "backup", src});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(nlohmann::json::parse(b.out)["snapshot"].get<std::string>());
  }
  EXPECT_FALSE(AnyFileHolds(repo, kMarker));
  EXPECT_FALSE(AnyFileHolds(repo, "salaries-of-named-staff"));
  EXPECT_FALSE(AnyFileHolds(repo, src));

  const std::vector<std::string> with_pass = {"-r", repo, "--passphrase-file", pass};
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = with_pass;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunDrctl(argv);
  };
  auto check = run({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  ASSERT_EQ(run({"-q", "forget", "--keep-last", "1"}).exit_code, 0);
  auto prune = run({"prune"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  check = run({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto restored = run({"restore", "latest", "-t", dir / "out"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/scan.bin"), test::ReadFile(src + "/scan.bin"));
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/ledgers/round"), "2");

  // A drill's record keeps its report (paths, hosts, check output) sealed;
  // its chain still checks.
  auto drill = run({"drill", "--sandbox", dir / "sandbox", "--catalog", dir / "catalog.db"});
  ASSERT_EQ(drill.exit_code, 0) << drill.out << drill.err;
  EXPECT_FALSE(AnyFileHolds(repo, src));
  EXPECT_FALSE(AnyFileHolds(repo, "salaries-of-named-staff"));
  auto history = run({"drill", "history", "--catalog", dir / "catalog.db"});
  EXPECT_EQ(history.exit_code, 0) << history.out << history.err;

  // Keys: a key file slot, an escrow copy, a rotation, the passphrase removed.
  ASSERT_EQ(
      run({"-q", "key", "add", "--new-key-file", dir / "ops.key", "--label", "ops"}).exit_code, 0);
  auto list = run({"--json", "key", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const auto slots = nlohmann::json::parse(list.out);
  ASSERT_EQ(slots["slots"].size(), 2u) << slots;
  const std::string pass_slot = slots["slots"][0]["slot"];
  EXPECT_TRUE(slots["slots"][0]["opened_with"].get<bool>());
  EXPECT_EQ(slots["slots"][1]["label"], "ops");
  ASSERT_EQ(run({"-q", "key", "export", "--out", dir / "escrow.key"}).exit_code, 0);
  EXPECT_EQ(fs::status(dir / "escrow.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  auto rotate = run({"--json", "key", "rotate"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_EQ(nlohmann::json::parse(rotate.out)["current_data_key"], 2);
  const std::vector<std::string> with_ops = {"-r", repo, "--key-file", dir / "ops.key"};
  auto ops = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = with_ops;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunDrctl(argv);
  };
  ASSERT_EQ(ops({"-q", "key", "remove", pass_slot}).exit_code, 0);
  auto gone = run({"snapshots"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("has no passphrase slot"), std::string::npos) << gone.err;
  auto last = ops({"key", "remove", slots["slots"][1]["slot"].get<std::string>()});
  EXPECT_EQ(last.exit_code, 1);
  EXPECT_NE(last.err.find("is the one this command was opened with"), std::string::npos)
      << last.err;
  MakeSource(src, 3);
  ASSERT_EQ(ops({"-q", "backup", src}).exit_code, 0);

  // The same-city site and the production host are gone: a copy of the
  // store (the off-site copy) and the escrowed key restore on a new machine.
  const std::string offsite = dir / "offsite-copy";
  fs::copy(repo, offsite, fs::copy_options::recursive);
  fs::remove_all(repo);
  fs::remove(dir / "ops.key");
  const std::vector<std::string> escrow = {"-r", offsite, "--key-file", dir / "escrow.key"};
  auto escrowed = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = escrow;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunDrctl(argv);
  };
  auto all = escrowed({"--json", "snapshots"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(nlohmann::json::parse(all.out).size(), 2u);
  check = escrowed({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  ASSERT_EQ(escrowed({"-q", "restore", "latest", "-t", dir / "new-machine"}).exit_code, 0);
  EXPECT_TRUE(test::CompareTrees(src, dir / "new-machine" + src).empty());

  // A flipped byte in a pack: check names it, restore refuses the file.
  auto packs = StoreFiles(offsite + "/data");
  ASSERT_FALSE(packs.empty());
  std::string bytes = test::ReadFile(packs.back());
  bytes[bytes.size() / 3] ^= 0x20;
  test::WriteFile(packs.back(), bytes);
  check = escrowed({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 1) << check.out;
  EXPECT_NE((check.out + check.err).find("fails authentication"), std::string::npos)
      << check.out << check.err;
}

// With no key in the environment and a terminal on stdin, the passphrase is
// asked for (script(1) gives drctl a terminal; the typed line is not echoed
// once drctl reads it).
TEST(EncryptionCli, ThePassphraseIsAskedForOnATerminal) {
  test::TempDir dir("enc-cli-tty");
  const std::string repo = dir / "repo", other = dir / "other";
  auto on_tty = [](const std::string& input, const std::string& args) {
    return test::RunShell("printf '" + input + "' | script -qec '" + std::string(DRCTL_PATH) + " " +
                          args + "' /dev/null");
  };
  auto mismatch = on_tty("one two\\none three\\n", "-r " + repo + " init --encrypt");
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.out.find("the two passphrases differ"), std::string::npos) << mismatch.out;
  EXPECT_FALSE(fs::exists(repo + "/config"));
  auto made = on_tty("one two\\none two\\n", "-r " + repo + " init --encrypt");
  ASSERT_EQ(made.exit_code, 0) << made.out;
  const std::string file = dir / "f";
  test::WriteFile(file, "x");
  auto backup = on_tty("one two\\n", "-q -r " + repo + " backup " + file);
  ASSERT_EQ(backup.exit_code, 0) << backup.out;
  auto listed = on_tty("one two\\n", "-r " + repo + " snapshots");
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("1 snapshots"), std::string::npos) << listed.out;
  auto wrong = on_tty("one three\\n", "-r " + repo + " snapshots");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.out.find("wrong passphrase"), std::string::npos) << wrong.out;
  // A plaintext repository asks for nothing.
  ASSERT_EQ(RunDrctl({"-q", "-r", other, "init"}).exit_code, 0);
  auto plain = on_tty("", "-r " + other + " snapshots");
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_EQ(plain.out.find("passphrase"), std::string::npos) << plain.out;
}

TEST(EncryptionCli, KeyCommandsRefusePlaintextRepositoriesAndBadRequests) {
  test::TempDir dir("enc-cli-bad");
  const std::string repo = dir / "repo";
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "init"}).exit_code, 0);
  auto r = RunDrctl({"-r", repo, "key", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not encrypted"), std::string::npos) << r.err;
  // --encrypt without a key, or with two.
  test::WriteFile(dir / "pass", "x y z\n");
  r = RunDrctl({"-r", dir / "r2", "init", "--encrypt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("needs one first key"), std::string::npos) << r.err;
  r = RunDrctl({"-r", dir / "r2", "--passphrase-file", dir / "pass", "--key-file", dir / "k",
                "init", "--encrypt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(dir / "r2/config"));
  // A key file init creates: never over an existing file.
  test::WriteFile(dir / "taken.key", "precious");
  r = RunDrctl({"-r", dir / "r3", "--key-file", dir / "taken.key", "init", "--encrypt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_EQ(test::ReadFile(dir / "taken.key"), "precious");
  EXPECT_FALSE(fs::exists(dir / "r3/config"));
  // A key add with no new key, an export over a file.
  ASSERT_EQ(RunDrctl({"-q", "-r", dir / "r4", "--key-file", dir / "r4.key", "init", "--encrypt"})
                .exit_code,
            0);
  r = RunDrctl({"-r", dir / "r4", "--key-file", dir / "r4.key", "key", "add"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("give the new key"), std::string::npos) << r.err;
  r = RunDrctl({"-r", dir / "r4", "--key-file", dir / "r4.key", "key", "export", "--out",
                dir / "taken.key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::ReadFile(dir / "taken.key"), "precious");
}

}  // namespace
}  // namespace dr
