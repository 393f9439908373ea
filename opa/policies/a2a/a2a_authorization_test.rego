# METADATA
# title: Agent-to-agent policy tests
# description: |
#   Table-driven, against the example agents in opa/data. Every case is an
#   input opa/schemas/a2a_input.schema.json accepts (contract_test.rego), as
#   src/decide/a2a-input.ts builds it.
package sark.a2a_test

import data.sark.a2a

planner := {
	"id": "planner", "type": "agent", "authenticated": true, "auth_method": "mesh",
	"roles": [], "tenant": "acme", "team": null, "teams": [], "trust_level": "high", "environment": "prod",
	"scopes": [], "client_id": null, "subject": null, "issuer": null, "delegation": [],
}

_with(source, fields) := object.union(source, fields)

_token(scopes) := _with(planner, {"auth_method": "jwt", "scopes": scopes, "subject": "planner", "client_id": "planner-app", "issuer": "https://issuer.example"})

_critical := _with(planner, {"trust_level": "critical"})

_hop(id) := {"sub": id, "client_id": null, "iss": "https://issuer.example"}

_chain(ids) := _with(planner, {"auth_method": "jwt", "delegation": [_hop(id) | some id in ids]})

# METADATA
# description: A card skill; `security` null means the card's requirements apply.
skill(id, tags, security) := {"id": id, "name": id, "tags": tags, "security": security}

# METADATA
# description: An agent card as SARK normalizes it, `fields` over an unsigned Acme Research card.
card(skills, fields) := object.union(
	{
		"name": "Researcher", "version": "1.4.0",
		"provider": {"organization": "Acme Research", "url": "https://research.acme.example"},
		"signature": {"present": false, "verified": false, "key_id": null},
		"capabilities": {"streaming": true, "push_notifications": true, "extended_agent_card": false},
		"security": [], "skills": skills,
	},
	fields,
)

research_card := card([skill("search.web", ["search"], null), skill("summarize", ["text"], null)], {})

_signed := {"present": true, "verified": true, "key_id": "k1"}

payments_card(version, signature, skill_security) := card(
	[skill("payments.transfer", ["payments"], skill_security)],
	{"name": "Payments", "version": version, "provider": {"organization": "Acme Payments", "url": null}, "signature": signature},
)

_oauth(scopes) := {"scheme": "oauth", "type": "oauth2", "scopes": scopes}

_mtls := {"scheme": "mesh", "type": "mtls", "scopes": []}

_key := {"scheme": "key", "type": "api_key", "scopes": []}

# METADATA
# description: A schema-valid a2a input.
request(operation, source, target, target_card, skill_ref, task) := {
	"schema_version": 2, "action": "a2a:call", "operation": operation, "source": source,
	"target": {"id": target, "card": target_card}, "skill": skill_ref, "task": task,
	"request": {"id": "r-1"},
}

declared(id) := {"id": id, "source": "declared"}

inferred(id) := {"id": id, "source": "inferred"}

send(source, target, target_card, skill_ref) := request("SendMessage", source, target, target_card, skill_ref, null)

_task := {"id": "t-1"}

# METADATA
# description: Calls the policy must allow.
allow_cases := {
	"declared skill the card lists": send(planner, "researcher", research_card, declared("search.web")),
	"inferred skill": request("SendStreamingMessage", planner, "researcher", research_card, inferred("summarize"), null),
	"no card: the data decides": send(planner, "researcher", null, declared("search.web")),
	"trust from roles": send(_with(planner, {"trust_level": null, "roles": ["admin"]}), "researcher", research_card, declared("search.web")),
	"critical transfer, signed approved card, declared": send(_critical, "payments", payments_card("2.1.0", _signed, null), declared("payments.transfer")),
	"delegated summary at the depth limit": send(_chain(["planner", "sandbox", "payments"]), "researcher", research_card, declared("summarize")),
	"delegation by client id": send(_with(_chain([]), {"delegation": [{"sub": null, "client_id": "sandbox", "iss": null}]}), "researcher", null, declared("summarize")),
	"GetTask names no skill": request("GetTask", planner, "researcher", research_card, null, _task),
	"CancelTask": request("CancelTask", planner, "researcher", null, null, _task),
	"SubscribeToTask": request("SubscribeToTask", planner, "researcher", null, null, _task),
	"push config at medium trust or above": request("CreateTaskPushNotificationConfig", planner, "researcher", null, null, _task),
	"extended card": request("GetExtendedAgentCard", planner, "researcher", research_card, null, null),
	"OAuth scopes meet the skill's requirement": send(_token(["research:read", "x"]), "researcher", card([skill("search.web", [], [[_oauth(["research:read"])]])], {}), declared("search.web")),
	"the mTLS alternative": send(planner, "researcher", card([skill("search.web", [], [[_oauth(["r"])], [_mtls]])], {}), declared("search.web")),
	"the card's requirement, met by an API key": send(_with(planner, {"auth_method": "api_key"}), "researcher", card([skill("search.web", [], null)], {"security": [[_key]]}), declared("search.web")),
	"a skill without requirements on a card with some": send(planner, "researcher", card([skill("search.web", [], [])], {"security": [[_key]]}), declared("search.web")),
	"both schemes of one alternative": send(_token(["r"]), "researcher", card([skill("search.web", [], [[_oauth(["r"]), {"scheme": "b", "type": "http_bearer", "scopes": []}]])], {}), declared("search.web")),
}

# METADATA
# description: Calls the policy must deny, with the first reason expected.
deny_cases := {
	"unauthenticated source": [send(_with(planner, {"authenticated": false}), "researcher", null, declared("search.web")), "source_unauthenticated"],
	"unknown target": [send(planner, "ghost", null, declared("search.web")), "target_unknown"],
	"other tenant": [send(planner, "globex-helper", null, declared("summarize")), "cross_tenant"],
	"source without tenant": [send(_with(planner, {"tenant": null}), "researcher", null, declared("search.web")), "cross_tenant"],
	"a message without a skill": [send(planner, "researcher", research_card, null), "skill_unresolved"],
	"a declared skill the card does not list": [send(planner, "researcher", research_card, declared("plan.create")), "skill_not_in_card"],
	"unknown skill": [send(planner, "researcher", null, declared("mine.bitcoin")), "skill_unknown"],
	"denied skill": [send(planner, "researcher", null, declared("admin.reset")), "skill_denied"],
	"skill not offered": [send(planner, "researcher", null, declared("plan.create")), "skill_not_offered"],
	"source trust too low": [send(_with(planner, {"trust_level": "low"}), "planner", null, declared("plan.create")), "source_trust_insufficient"],
	"dev source to prod target": [send(_with(planner, {"environment": "dev"}), "researcher", null, declared("search.web")), "environment_mismatch"],
	"chain too deep": [send(_chain(["planner", "sandbox", "payments", "globex-helper"]), "researcher", null, declared("summarize")), "delegation_too_deep"],
	"delegating a non-delegable skill": [send(_with(_chain(["planner"]), {"trust_level": "critical"}), "payments", payments_card("2.0.0", _signed, null), declared("payments.transfer")), "skill_not_delegable"],
	"cycle through the target": [send(_chain(["researcher"]), "researcher", null, declared("summarize")), "delegation_cycle"],
	"an actor twice": [send(_chain(["planner", "planner"]), "researcher", null, declared("summarize")), "delegation_cycle"],
	"actor from another tenant": [send(_chain(["globex-helper"]), "researcher", null, declared("summarize")), "delegation_cross_tenant"],
	"unregistered actor": [send(_chain(["ghost"]), "researcher", null, declared("summarize")), "delegation_actor_unknown"],
	"unsigned card where a signature is required": [send(_critical, "payments", payments_card("2.1.0", {"present": false, "verified": false, "key_id": null}, null), declared("payments.transfer")), "target_card_unverified"],
	"signature that did not verify": [send(_critical, "payments", payments_card("2.1.0", {"present": true, "verified": false, "key_id": "k9"}, null), declared("payments.transfer")), "target_card_unverified"],
	"no card where a signature is required": [send(_critical, "payments", null, declared("payments.transfer")), "target_card_unverified"],
	"another provider": [send(planner, "researcher", card(research_card.skills, {"provider": {"organization": "Evil Corp", "url": null}}), declared("search.web")), "target_provider_mismatch"],
	"a card without a provider": [send(planner, "researcher", card(research_card.skills, {"provider": null}), declared("search.web")), "target_provider_mismatch"],
	"an unapproved version": [send(_critical, "payments", payments_card("1.9.0", _signed, null), declared("payments.transfer")), "target_version_unapproved"],
	"an inferred skill that must be declared": [send(_critical, "payments", payments_card("2.1.0", _signed, null), inferred("payments.transfer")), "skill_inference_refused"],
	"a denied skill tag": [send(planner, "researcher", card([skill("search.web", ["destructive"], null)], {}), declared("search.web")), "skill_tag_denied"],
	"an OAuth scope missing": [send(_token(["x"]), "researcher", card([skill("search.web", [], [[_oauth(["research:read"])]])], {}), declared("search.web")), "security_requirements_unmet"],
	"an API key where OAuth is required": [send(_with(planner, {"auth_method": "api_key"}), "researcher", card([skill("search.web", [], [[_oauth([])]])], {}), declared("search.web")), "security_requirements_unmet"],
	"one scheme of an alternative missing": [send(_token(["r"]), "researcher", card([skill("search.web", [], [[_oauth(["r"]), _mtls]])], {}), declared("search.web")), "security_requirements_unmet"],
	"a scheme type SARK cannot meet": [send(planner, "researcher", card([skill("search.web", [], [[{"scheme": "b", "type": "http_basic", "scopes": []}]])], {}), declared("search.web")), "security_requirements_unmet"],
	"the card's requirement covers GetTask": [request("GetTask", _with(planner, {"auth_method": "api_key"}), "researcher", card([], {"security": [[_mtls]]}), null, _task), "security_requirements_unmet"],
	"push config below the operation's trust": [request("CreateTaskPushNotificationConfig", _with(planner, {"trust_level": "low"}), "researcher", null, null, _task), "operation_trust_insufficient"],
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
	d := a2a.decision with input as send(planner, "researcher", null, declared("search.web"))
		with data.sark.capabilities["search.web"].min_trust_level as "high"
	"target_trust_insufficient" in {r.code | some r in d.reasons}
}

test_deny_an_operation_the_data_does_not_know if {
	d := a2a.decision with input as request("ListTasks", planner, "researcher", null, null, null)
		with data.sark.a2a_rules.operations as {"SendMessage": {"kind": "message"}}
	d.reasons[0].code == "operation_unknown"
	not d.allow
}

test_deny_another_contract_version if {
	d := a2a.decision with input as object.union(send(planner, "researcher", null, declared("search.web")), {"schema_version": 1})
	d.reasons[0].code == "schema_version_unsupported"
}

test_deny_unsigned_cards_everywhere_when_the_data_says_so if {
	d := a2a.decision with input as send(planner, "researcher", research_card, declared("search.web"))
		with data.sark.a2a_rules.require_signed_cards as true
	d.reasons[0].code == "target_card_unverified"
	signed := a2a.decision with input as send(planner, "researcher", card(research_card.skills, {"signature": _signed}), declared("search.web"))
		with data.sark.a2a_rules.require_signed_cards as true
	signed.allow
}

test_deny_every_reason_is_listed_most_fundamental_first if {
	d := _decide(send(_with(planner, {"authenticated": false, "tenant": null}), "globex-helper", null, null))
	[r.code | some r in d.reasons] == ["source_unauthenticated", "cross_tenant", "skill_unresolved"]
	d.cache == {"ttl_seconds": 0, "scope": "none"}
}
