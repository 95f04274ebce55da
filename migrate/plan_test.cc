#include "migrate/plan.h"

#include <gtest/gtest.h>

namespace dr {
namespace {

constexpr char kPlan[] = R"(migration: city-cloud
repository: /srv/dr-migrate
state: /var/lib/drmigrate/city
systems:
  - name: permits-web
    department: permits
    kind: web application
    cloud: administrative
    wave: 1
    sources:
      paths: [/srv/permits, /etc/permits]
    target:
      directory: /mnt/cloud/permits
    cutover-window: 2027-01-16 22:00Z/2027-01-17 02:00Z
    hooks:
      quiesce: systemctl stop permits
      start: ssh cloud-01 systemctl start permits
      health-check: curl -fsS http://cloud-01/health
      rollback: systemctl start permits
  - name: records-db
    department: records
    cloud: public-service
    wave: 2
    sources:
      devices: [/dev/vg0/records]
    target:
      rbd: rbd://cloud/records-db
)";

TEST(MigrationPlan, AWorkedPlanReadsAsWritten) {
  auto plan = ParseMigrationPlan(kPlan, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->name, "city-cloud");
  EXPECT_EQ(plan->state_dir, "/var/lib/drmigrate/city");
  ASSERT_EQ(plan->systems.size(), 2u);
  const MigrationSystem& web = plan->systems[0];
  EXPECT_EQ(web.paths, (std::vector<std::string>{"/srv/permits", "/etc/permits"}));
  EXPECT_EQ(web.directory, "/mnt/cloud/permits");
  EXPECT_EQ(web.kind, "web application");
  EXPECT_EQ(web.hooks.health_check, "curl -fsS http://cloud-01/health");
  EXPECT_EQ(web.window_end_ns - web.window_start_ns, int64_t{4} * 3600 * 1000000000);
  const MigrationSystem& db = plan->systems[1];
  EXPECT_EQ(db.wave, 2);
  EXPECT_EQ(db.BlockSource(), "/dev/vg0/records");
  EXPECT_EQ(db.BlockTarget(), "rbd://cloud/records-db");
  EXPECT_EQ(plan->Wave(2).size(), 1u);
  EXPECT_EQ(plan->Find("records-db"), &plan->systems[1]);
}

// Each mistake is reported at its line and field.
TEST(MigrationPlan, MistakesNameFileLineAndField) {
  struct Case {
    std::string from, to, expected;
  };
  const Case cases[] = {
      {"wave: 1", "wave: first", "plan.yaml:9:11: systems[0].wave: \"first\" is not a wave number"},
      {"      paths: [/srv/permits, /etc/permits]", "      paths: [srv/permits]",
       "plan.yaml:11:15: systems[0].sources.paths[0]: \"srv/permits\" is not an absolute path"},
      {"      directory: /mnt/cloud/permits", "      directory: /srv/permits",
       "systems[0].target.directory: \"/srv/permits\" overlaps the system's own source"},
      {"2027-01-16 22:00Z/2027-01-17 02:00Z", "2027-01-17 22:00Z/2027-01-16 02:00Z",
       "systems[0].cutover-window: \"2027-01-17 22:00Z/2027-01-16 02:00Z\" ends before it starts"},
      {"      rbd: rbd://cloud/records-db", "      rbd: /dev/sdb",
       "systems[1].target.rbd: \"/dev/sdb\" is not an RBD image"},
      {"      rbd: rbd://cloud/records-db", "      directory: /mnt/x",
       "plan.yaml:27:18: systems[1].target.directory: the system has no file sources"},
      {"  - name: records-db", "  - name: permits-web", "system \"permits-web\" is listed twice"},
      {"    cloud: public-service", "    cloud: public-service\n    colour: blue",
       "systems[1].colour: unknown key"},
      {"      health-check: curl -fsS http://cloud-01/health", "      health-check: \"\"",
       "systems[0].hooks.health-check: must not be empty"},
      {"migration: city-cloud\n", "", "plan.yaml:1:1: migration: required"},
      {"    cloud: public-service", "    cloud: public-service\n    source-agent: \"\"",
       "systems[1].source-agent: must not be empty"},
  };
  for (const Case& c : cases) {
    std::string text = kPlan;
    const size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    auto plan = ParseMigrationPlan(text, "plan.yaml");
    ASSERT_FALSE(plan.ok()) << c.to;
    EXPECT_NE(plan.status().message().find(c.expected), std::string::npos)
        << plan.status().message();
    EXPECT_EQ(plan.status().message().find('\n'), std::string::npos) << plan.status().message();
  }
}

TEST(MigrationPlan, APlanRunThroughVaultsNamesSourceAgentsAndNoRepository) {
  std::string text = kPlan;
  text.replace(text.find("repository: /srv/dr-migrate\n"), 28, "");
  text.replace(text.find("    cloud: public-service"), 25,
               "    cloud: public-service\n    source-agent: db-fin-02");
  auto plan = ParseMigrationPlan(text, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->repository, "");
  EXPECT_EQ(plan->systems[0].source_agent, "");
  EXPECT_EQ(plan->systems[1].source_agent, "db-fin-02");
}

TEST(MigrationPlan, PathsAreNormalisedAndACopyNeverLandsInsideItsSource) {
  std::string text = kPlan;
  text.replace(text.find("[/srv/permits, /etc/permits]"), 28, "[/srv//permits/., /etc/permits/]");
  auto plan = ParseMigrationPlan(text, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->systems[0].paths, (std::vector<std::string>{"/srv/permits", "/etc/permits"}));
  for (const char* dir : {"/srv/permits/copy", "/srv", "/etc/permits/"}) {
    text = kPlan;
    text.replace(text.find("/mnt/cloud/permits"), 18, dir);
    plan = ParseMigrationPlan(text, "plan.yaml");
    ASSERT_FALSE(plan.ok()) << dir;
    EXPECT_NE(plan.status().message().find("overlaps the system's own source"), std::string::npos)
        << plan.status().message();
  }
}

TEST(MigrationPlan, TwoSystemsCannotShareATargetOrABlockSourceTwice) {
  std::string text = kPlan;
  text.replace(text.find("rbd://cloud/records-db"), 22, "rbd://cloud/records-db\n      image: /x");
  auto plan = ParseMigrationPlan(text, "plan.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("not both"), std::string::npos) << plan.status().message();

  text = kPlan;
  text.replace(text.find("rbd://cloud/records-db"), 22, "rbd://cloud/records-db\n");
  text +=
      "  - name: other\n    department: x\n    cloud: y\n    sources: {paths: [/srv/o]}\n"
      "    target: {directory: /mnt/cloud/permits}\n";
  plan = ParseMigrationPlan(text, "plan.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("overlaps system \"permits-web\"'s target"),
            std::string::npos)
      << plan.status().message();
}

}  // namespace
}  // namespace dr
