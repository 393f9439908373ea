# METADATA
# title: SARK agent-to-agent authorization
# description: |
#   Decides whether a source agent may ask a target agent for a capability
#   (input: opa/schemas/a2a_input.schema.json; decision:
#   opa/schemas/decision.schema.json). Default deny. The source is the
#   identity SARK resolved; the target's tenant, trust level and capabilities
#   come from the registry (data.sark.agents), never from the caller.
# schemas:
#   - input: schema["a2a_input.schema"]
package sark.a2a

import data.sark.lib.levels

_target := data.sark.agents[input.target.id]

_capability := data.sark.capabilities[input.capability]

_chain := object.get(input, ["delegation", "chain"], [])

_source_trust := levels.trust_rank(input.source)

_needed := levels.rank(_capability.min_trust_level)

_reason(code, message) := {"code": code, "message": message}

_deny contains _reason("source_unauthenticated", "agent-to-agent calls need an authenticated source") if not _authenticated

_deny contains _reason("target_unknown", "the target agent is not registered") if not _target

_deny contains _reason("cross_tenant", "source and target belong to different tenants") if {
	_target
	not _same_tenant
}

_deny contains _reason("capability_denied", "this capability is denied for agent-to-agent calls") if {
	some pattern in data.sark.delegation.denied_capabilities
	glob.match(pattern, ["."], input.capability)
}

_deny contains _reason("capability_unknown", "the capability is not registered") if not _capability

_deny contains _reason("capability_not_offered", "the target agent does not offer this capability") if {
	_target
	not _offered
}

_deny contains _reason("source_trust_insufficient", "the source agent's trust level is below the capability's") if {
	_capability
	not levels.reaches(_source_trust, _needed)
}

_deny contains _reason("target_trust_insufficient", "the target agent's trust level is below the capability's") if {
	_target
	_capability
	not levels.reaches(levels.rank(_target.trust_level), _needed)
}

_deny contains _reason("environment_mismatch", "source and target run in different environments") if {
	is_string(_target.environment)
	input.source.environment != _target.environment
}

_deny contains _reason("delegation_too_deep", "the delegation chain is longer than allowed") if {
	count(_chain) > data.sark.delegation.max_depth
}

_deny contains _reason("capability_not_delegable", "this capability cannot be used on behalf of another agent") if {
	count(_chain) > 0
	_capability.delegable == false
}

_deny contains _reason("delegation_cycle", "the delegation chain already contains the source or target") if {
	some hop in _chain
	hop.agent_id in {input.source.id, input.target.id}
}

_deny contains _reason("delegation_cross_tenant", "an agent of another tenant is in the delegation chain") if {
	some hop in _chain
	hop.tenant != input.source.tenant
}

# METADATA
# scope: document
# description: Allowed only when no deny reason applies.
default allow := false

allow if {
	_authenticated
	_target
	_capability
	count(_deny) == 0
}

# The first reason is the metrics label, so the most fundamental comes first.
_reason_rank := {
	"source_unauthenticated": 0,
	"target_unknown": 1,
	"capability_unknown": 2,
	"cross_tenant": 3,
	"capability_denied": 4,
	"capability_not_offered": 5,
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
	glob.match(pattern, ["."], input.capability)
}
