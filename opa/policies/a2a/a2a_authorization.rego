# METADATA
# title: SARK agent-to-agent authorization
# description: |
#   Decides whether a source agent may ask a target agent for an A2A v1.0
#   operation (input: opa/schemas/a2a_input.schema.json; decision:
#   opa/schemas/decision.schema.json). Default deny. The source is the
#   identity SARK resolved; the target's tenant, trust level and the skills it
#   may be asked for come from data.sark.agents, never from the caller. The
#   target's agent card is evidence (a2a_card.rego): its signature, provider
#   and version can be required, its skills' tags and security requirements
#   restrict, and a message's skill, declared or inferred, must be one the
#   card lists.
# related_resources:
#   - ref: https://a2a-protocol.org/v1.0.0/specification/
#     description: A2A protocol v1.0 (operations, agent card, skills, security)
# schemas:
#   - input: schema["a2a_input.schema"]
package sark.a2a

import data.sark.lib.levels

_target := data.sark.agents[input.target.id]

_operation := data.sark.a2a_rules.operations[input.operation]

# Operations that send a message: they use a skill.
_message_operation if _operation.kind == "message"

_skill := input.skill.id

_capability := data.sark.capabilities[_skill]

_chain := input.source.delegation

_source_trust := levels.trust_rank(input.source)

_needed := levels.rank(_capability.min_trust_level)

_reason(code, message) := {"code": code, "message": message}

_deny contains _reason("schema_version_unsupported", "the input is not the agent-to-agent contract this policy implements") if {
	input.schema_version != 2
}

_deny contains _reason("source_unauthenticated", "agent-to-agent calls need an authenticated source") if not _authenticated

_deny contains _reason("target_unknown", "the target agent is not registered") if not _target

_deny contains _reason("operation_unknown", "the policy knows no such A2A operation") if not _operation

_deny contains _reason("cross_tenant", "source and target belong to different tenants") if {
	_target
	not _same_tenant
}

_deny contains _reason("operation_trust_insufficient", "the source agent's trust level is below the operation's") if {
	is_string(_operation.min_trust_level)
	not levels.reaches(_source_trust, levels.rank(_operation.min_trust_level))
}

_deny contains _reason("environment_mismatch", "source and target run in different environments") if {
	is_string(_target.environment)
	input.source.environment != _target.environment
}

## Skills (message operations)

_deny contains _reason("skill_unresolved", "the message names no skill and none could be inferred from the target's card") if {
	_message_operation
	not _skill
}

_deny contains _reason("skill_denied", "this skill is denied for agent-to-agent calls") if {
	some pattern in data.sark.delegation.denied_capabilities
	glob.match(pattern, ["."], _skill)
}

_deny contains _reason("skill_unknown", "the skill is not registered") if {
	_skill
	not _capability
}

_deny contains _reason("skill_not_offered", "the target agent may not be asked for this skill") if {
	_target
	_skill
	not _offered
}

_deny contains _reason("source_trust_insufficient", "the source agent's trust level is below the skill's") if {
	_capability
	not levels.reaches(_source_trust, _needed)
}

_deny contains _reason("target_trust_insufficient", "the target agent's trust level is below the skill's") if {
	_target
	_capability
	not levels.reaches(levels.rank(_target.trust_level), _needed)
}

_deny contains _reason("skill_inference_refused", "this skill must be named by the caller, not inferred") if {
	input.skill.source == "inferred"
	_capability.require_declared == true
}

## Delegation (RFC 8693 actors of the source's token)

_deny contains _reason("delegation_too_deep", "the delegation chain is longer than allowed") if {
	count(_chain) > data.sark.delegation.max_depth
}

_deny contains _reason("skill_not_delegable", "this skill cannot be used on behalf of another agent") if {
	count(_chain) > 0
	_capability.delegable == false
}

_deny contains _reason("delegation_cycle", "an agent appears twice in the delegation chain, or the target is in it") if {
	ids := [_actor(hop) | some hop in _chain]
	count({id | some id in ids}) != count(ids)
}

_deny contains _reason("delegation_cycle", "an agent appears twice in the delegation chain, or the target is in it") if {
	some hop in _chain
	_actor(hop) == input.target.id
}

_deny contains _reason("delegation_actor_unknown", "an agent in the delegation chain is not registered") if {
	some hop in _chain
	not data.sark.agents[_actor(hop)]
}

_deny contains _reason("delegation_cross_tenant", "an agent of another tenant is in the delegation chain") if {
	some hop in _chain
	data.sark.agents[_actor(hop)].tenant != input.source.tenant
}

# An actor's agent id: its subject, else its OAuth client.
_actor(hop) := hop.sub if is_string(hop.sub)

else := hop.client_id

# METADATA
# scope: document
# description: Allowed only when no deny reason applies.
default allow := false

allow if {
	_authenticated
	_target
	_operation
	count(_deny) == 0
}

# The first reason is the metrics label, so the most fundamental comes first.
_reason_rank := {
	"schema_version_unsupported": 0,
	"source_unauthenticated": 1,
	"target_unknown": 2,
	"operation_unknown": 3,
	"cross_tenant": 4,
	"target_card_unverified": 5,
	"target_provider_mismatch": 5,
	"target_version_unapproved": 5,
	"skill_unresolved": 6,
	"skill_not_in_card": 6,
	"skill_unknown": 6,
	"skill_denied": 7,
	"skill_not_offered": 8,
	"delegation_too_deep": 9,
}

# METADATA
# scope: document
# description: Empty when allowed; otherwise every reason, most fundamental first.
reasons := [] if allow

reasons := [_reason(entry[1], entry[2]) |
	some entry in sort([[object.get(_reason_rank, r.code, 10), r.code, r.message] | some r in _deny])
] if {
	not allow
}

# METADATA
# description: The decision document (opa/schemas/decision.schema.json).
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": reasons,
	"cache": {"ttl_seconds": 0, "scope": "none"},
	"audit": {"level": "full"},
}

_authenticated if input.source.authenticated == true

_same_tenant if {
	is_string(input.source.tenant)
	input.source.tenant == _target.tenant
}

_offered if {
	some pattern in _target.capabilities
	glob.match(pattern, ["."], _skill)
}
