# METADATA
# title: Agent-to-agent policy tests
# description: Table-driven, against the example registry in opa/data.
package sark.a2a_test

import data.sark.a2a

planner := {
	"id": "planner", "type": "agent", "authenticated": true, "auth_method": "mesh",
	"roles": [], "tenant": "acme", "team": null, "trust_level": "high", "environment": "prod",
}

# METADATA
# description: A schema-valid a2a input.
call(source, target, capability, chain) := {
	"schema_version": 1, "action": "a2a:call", "source": source, "target": {"id": target},
	"capability": capability, "delegation": {"chain": chain}, "request": {"id": "r-1"},
}

_hop(id) := {"agent_id": id, "tenant": "acme"}

# METADATA
# description: Calls the policy must allow.
allow_cases := {
	"direct search": call(planner, "researcher", "search.web", []),
	"delegated summary at the depth limit": call(planner, "researcher", "summarize", [_hop("a"), _hop("b"), _hop("c")]),
	"trust from roles": call(object.union(planner, {"trust_level": null, "roles": ["admin"]}), "researcher", "search.web", []),
	"critical transfer between critical agents": call(object.union(planner, {"trust_level": "critical"}), "payments", "payments.transfer", []),
}

# METADATA
# description: Calls the policy must deny, with the first reason expected.
deny_cases := {
	"unauthenticated source": [call(object.union(planner, {"authenticated": false}), "researcher", "search.web", []), "source_unauthenticated"],
	"unknown target": [call(planner, "ghost", "search.web", []), "target_unknown"],
	"unknown capability": [call(planner, "researcher", "mine.bitcoin", []), "capability_unknown"],
	"other tenant": [call(planner, "globex-helper", "summarize", []), "cross_tenant"],
	"source without tenant": [call(object.union(planner, {"tenant": null}), "researcher", "search.web", []), "cross_tenant"],
	"denied capability": [call(object.union(planner, {"trust_level": "critical"}), "payments", "admin.reset", []), "capability_denied"],
	"capability not offered": [call(planner, "researcher", "plan.create", []), "capability_not_offered"],
	"source trust too low": [call(object.union(planner, {"trust_level": "low"}), "planner", "plan.create", []), "source_trust_insufficient"],
	"target trust too low": [call(planner, "payments", "payments.transfer", []), "source_trust_insufficient"],
	"dev source to prod target": [call(object.union(planner, {"environment": "dev"}), "researcher", "search.web", []), "environment_mismatch"],
	"chain too deep": [call(planner, "researcher", "summarize", [_hop("a"), _hop("b"), _hop("c"), _hop("d")]), "delegation_too_deep"],
	"delegating a non-delegable capability": [call(object.union(planner, {"trust_level": "critical"}), "payments", "payments.transfer", [_hop("a")]), "capability_not_delegable"],
	"cycle through the target": [call(planner, "researcher", "summarize", [_hop("researcher")]), "delegation_cycle"],
	"hop from another tenant": [call(planner, "researcher", "summarize", [{"agent_id": "x", "tenant": "globex"}]), "delegation_cross_tenant"],
}

_decide(case) := d if {
	d := a2a.decision with input as case
}

test_allow_table if {
	failures := {name: d.reasons | some name, case in allow_cases; d := _decide(case); d.allow != true}
	failures == {}
}

test_deny_table if {
	failures := {name: d.reasons | some name, [case, code] in deny_cases; d := _decide(case); _wrong(d, code)}
	failures == {}
}

_wrong(d, _) if d.allow != false

_wrong(d, code) if d.reasons[0].code != code

test_deny_target_trust_is_checked_too if {
	d := a2a.decision with input as call(planner, "researcher", "search.web", [])
		with data.sark.capabilities["search.web"].min_trust_level as "high"
	"target_trust_insufficient" in {r.code | some r in d.reasons}
}

test_deny_without_delegation_field_counts_as_direct if {
	case := object.remove(call(planner, "payments", "payments.transfer", []), ["delegation"])
	d := a2a.decision with input as object.union(case, {"source": {"trust_level": "critical"}})
	d.allow
}
