// `getpolicies`: an agent fetches the policies applied at this vault that
// name its namespace and cover it (by its enrolled name, never by what it
// claims), so `dragent run` runs what the admins applied here.
#include "replicator/vault/policy_store.h"
#include "replicator/vault/vault_impl.h"
#include "replicator/vault/vault_log.h"

namespace dr {

using namespace vault_internal;

void Vault::Impl::HandleGetPolicies(Session& s, const wire::GetPolicies& g) {
  if (!Require(s, kRightBackup, g.seq, "run policies")) return;
  auto listing = PolicyStore(config_.state_dir).Applied();
  if (!listing.ok()) return ReplyError(s.routing, g.seq, listing.status());
  // A policy file that no longer parses is the admins' problem to see in
  // `drvault policy list`; the agent runs the others.
  for (const auto& e : listing->errors) LogEvent("policy_error", {{"error", e}});
  wire::Policies answer{g.seq, {}};
  for (const auto& applied : listing->policies) {
    const Policy& p = applied.policy;
    if (p.ns != s.nspace || !p.AppliesTo(s.agent.name)) continue;
    answer.policies.push_back({p.name, p.source_text});
  }
  if (answer.policies.size() > wire::kMaxPolicies) {
    return ReplyError(s.routing, g.seq,
                      Status::InvalidArgument("more than " + std::to_string(wire::kMaxPolicies) +
                                              " policies apply to agent " + s.agent.name));
  }
  Reply(s.routing, std::move(answer));
}

}  // namespace dr

namespace dr {

// Catalog questions: the restore right, this session's namespace only. A
// question takes milliseconds (indexed SQLite), so it is answered here on
// the loop thread.
void Vault::Impl::HandleCatalogQuery(Session& s, const wire::CatalogQuery& q) {
  if (!Require(s, kRightRestore, q.seq, "ask the catalog")) return;
  auto answer = catalog_->Answer(s.nspace, q.request);
  if (!answer.ok()) return ReplyError(s.routing, q.seq, answer.status());
  if (answer->size() > wire::kMaxDataBytes) {
    return ReplyError(s.routing, q.seq,
                      Status::InvalidArgument("the answer is over 4 MiB: narrow the question "
                                              "(find --limit)"));
  }
  Reply(s.routing, wire::CatalogAnswer{q.seq, std::move(answer).value()});
}

}  // namespace dr
