# SARK gateway decision document
#
# Assembles the decision the sidecar consumes (opa/schemas/decision.schema.json):
# allow, ranked deny reasons, argument obligations, visible_tools,
# visible_servers, cache, audit, rate_limit and required_scopes.
package sark.gateway

import data.sark.lib.levels

_reason(code, message) := {"code": code, "message": message}

_invoke if input.action == "gateway:tool:invoke"

_resource_action if input.action in {"gateway:resource:read", "gateway:resource:subscribe"}

_known_actions := (_session_actions | _grantable_actions) | {
	"gateway:tools:list",
	"gateway:tool:invoke",
	"gateway:resource:read",
	"gateway:resource:subscribe",
	"gateway:prompt:get",
}

# Deny reasons for a catalogued tool on a server that admits the agent.
_tool_checked if {
	_invoke
	server_admits
	_catalog[input.tool.name]
}

_deny contains _reason("server_unknown", "the MCP server is not registered with the policy") if not _server

_deny contains _reason("authentication_required", "this MCP server requires an authenticated agent") if {
	_server
	not _authentication_ok
}

_deny contains _reason("action_unknown", "the policy knows no such action") if not input.action in _known_actions

_deny contains _reason("tool_name_missing", "the tool call names no tool") if {
	_invoke
	not _tool_named
}

_deny contains _reason("tool_unknown", "the tool is not in the server's catalogue") if {
	_invoke
	server_admits
	_tool_named
	not _catalog[input.tool.name]
}

_deny contains _reason("tool_denied", "this tool is explicitly denied") if {
	_tool_checked
	_tool_denied(input.tool.name)
}

_deny contains _reason("tool_not_granted", "no role of the agent grants this tool") if {
	_tool_checked
	not _tool_granted(input.tool.name)
}

_deny contains _reason("tool_not_shared", "the server's owning team does not share this tool") if {
	_tool_checked
	_tool_unshared(input.tool.name)
}

_deny contains _reason("trust_insufficient", "the agent's trust level is below the tool's sensitivity") if {
	_tool_checked
	not levels.reaches(_agent_trust, _tool_rank(input.tool.name))
}

_deny contains _reason("outside_business_hours", "critical tools are available in business hours only") if {
	_tool_checked
	_critical(input.tool.name)
	not _business_hours
}

_deny contains _reason("environment_mismatch", "critical tools take calls only from the server's environment") if {
	_tool_checked
	_critical(input.tool.name)
	_environment_mismatch
}

_deny contains violation if {
	input.action in {"gateway:tool:invoke", "gateway:prompt:get"}
	server_admits
	some violation in argument_violations
}

_deny contains _reason("resource_not_granted", "no role of the agent grants this resource") if {
	_resource_action
	server_admits
	not _resource_granted
}

_deny contains _reason("resource_denied", "this resource is explicitly denied") if {
	_resource_action
	server_admits
	_resource_denied(input.resource.uri)
}

_deny contains _reason("resource_uri_obfuscated", "the resource URI is encoded, climbs directories or uses look-alike characters") if {
	_resource_action
	server_admits
	uri_obfuscated(input.resource.uri)
}

_deny contains _reason("trust_insufficient", "the agent's trust level is below the server's sensitivity") if {
	input.action in {"gateway:resource:read", "gateway:resource:subscribe", "gateway:prompt:get"}
	server_admits
	not levels.reaches(_agent_trust, _server_rank)
}

_deny contains _reason("prompt_not_granted", "no role of the agent grants this prompt") if {
	input.action == "gateway:prompt:get"
	server_admits
	not _prompt_granted
}

_deny contains _reason("action_not_granted", "no role of the agent grants this action") if {
	input.action in _grantable_actions
	server_admits
	not _action_granted(input.action)
}

_deny contains _reason("method_not_allowed", "the server does not accept this method") if {
	input.action == "gateway:method:other"
	server_admits
	not input.method in object.get(_server, "allowed_methods", [])
}

# The first reason is the metrics label, so the most fundamental comes first.
_reason_rank := {
	"server_unknown": 0,
	"authentication_required": 1,
	"registry_unavailable": 1,
	"registry_server_unlisted": 1,
	"registry_server_disabled": 2,
	"registry_not_visible": 2,
	"action_unknown": 2,
	"tool_name_missing": 3,
	"tool_unknown": 4,
	"registry_tool_unlisted": 4,
	"tool_denied": 5,
	"tool_not_granted": 6,
	"resource_denied": 5,
	"resource_not_granted": 6,
	"prompt_not_granted": 6,
	"action_not_granted": 6,
	"method_not_allowed": 7,
	"tool_not_shared": 7,
	"trust_insufficient": 8,
	"outside_business_hours": 9,
	"environment_mismatch": 10,
	"insufficient_scope": 30,
}

_ranked_deny := [_reason(entry[1], entry[2]) |
	some entry in sort([[object.get(_reason_rank, r.code, 20), r.code, r.message] | some r in _deny])
]

default reasons := [{"code": "default_deny", "message": "no rule allows this request"}]

# METADATA
# scope: document
# description: Empty when allowed; otherwise every reason, most fundamental first.
reasons := [] if allow

reasons := _ranked_deny if {
	not allow
	count(_ranked_deny) > 0
}

_defaults := data.sark.decision_defaults

# A decision that depends on the clock (business hours) must not be cached.
_time_dependent if {
	_invoke
	_critical(input.tool.name)
}

_time_dependent if {
	input.action == "gateway:tools:list"
	some name, _ in _catalog
	_critical(name)
}

# The server list can hinge on a critical tool's hours on any server; it is
# rare, so it is not worth working out whether it does.
_time_dependent if input.action == "gateway:server:list"

# METADATA
# description: |
#   How long the sidecar may reuse this decision, and what its key must hold:
#   "target" = the input without request, session_id, client and arguments;
#   "arguments" = that plus the arguments; "none" = do not cache.
cache := {"ttl_seconds": 0, "scope": "none"} if {
	_time_dependent
} else := {"ttl_seconds": _defaults.cache_ttl_seconds, "scope": "arguments"} if {
	input.action in {"gateway:tool:invoke", "gateway:prompt:get"}
} else := {"ttl_seconds": _defaults.cache_ttl_seconds, "scope": "target"}

_quiet_actions := {"gateway:server:ping", "gateway:notification", "gateway:response"}

# METADATA
# scope: document
# description: |
#   What the audit record holds: "none" (allowed keep-alives), "basic" (the
#   decision and identity) or "full" (plus redacted arguments).
default audit := {"level": "basic"}

audit := {"level": "full"} if {
	not allow
} else := {"level": "none"} if {
	input.action in _quiet_actions
} else := {"level": "full"} if {
	_invoke
	_tool_rank(input.tool.name) >= levels.rank("high")
}

_rate_spec := spec if {
	spec := _tool_entry.rate_limit
} else := _defaults.rate_limit if {
	_authenticated
} else := _defaults.unauthenticated_rate_limit

default rate_limit := null

# METADATA
# scope: document
# description: The budget an allowed tool call counts against, per agent, server and tool.
rate_limit := {
	"key": concat("|", ["tool", input.agent.id, input.server.id, input.tool.name]),
	"limit": _rate_spec.limit,
	"window_seconds": _rate_spec.window_seconds,
} if {
	_invoke
	allow
}

default _visible := null

_visible := visible_tools if input.action == "gateway:tools:list"

default _visible_server_list := null

# A denied list is empty: an agent that may not list servers is shown none.
_visible_server_list := visible_servers if {
	input.action == "gateway:server:list"
	allow
} else := [] if {
	input.action == "gateway:server:list"
}

# METADATA
# description: |
#   The decision document the sidecar consumes. An allowed tools/call takes the
#   one-body fast path (_allowed_call in gateway_call.rego); every other
#   message, and every denied call, the full decision below.
# entrypoint: true
decision := _indexed_call if _indexed_call

else := _allowed_call if _allowed_call

else := _full_decision

# The decision assembled from the individual rules: the reference the fast
# path is tested against, and the answer for everything but allowed calls.
_full_decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
	"visible_tools": _visible,
	"visible_servers": _visible_server_list,
	"cache": cache,
	"audit": audit,
	"rate_limit": rate_limit,
	"required_scopes": required_scopes,
}

_tool_named if is_string(input.tool.name)

_resource_granted if {
	some grant in _grants
	_matches_any(object.get(grant, "resources", []), input.resource.uri)
}

_prompt_granted if {
	some grant in _grants
	_matches_any(object.get(grant, "prompts", []), input.prompt.name)
}
